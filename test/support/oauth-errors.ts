/**
 * authentik's OAuth2 error descriptions (authentik/providers/oauth2/errors.py: TokenError, DeviceCodeError and
 * AuthorizeError), written out for the suites' expected bodies instead of imported from the product's table, so that
 * an edit to one of the product's strings fails a test. authentik's own spelling is kept ("End-Userconsent").
 */
export const TOKEN_ERRORS = {
  invalid_request: 'The request is otherwise malformed',
  invalid_client:
    'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported ' +
    'authentication method)',
  invalid_grant:
    'The provided authorization grant or refresh token is invalid, expired, revoked, does not match the ' +
    'redirection URI used in the authorization request, or was issued to another client',
  unauthorized_client: 'The authenticated client is not authorized to use this authorization grant type',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server',
  invalid_scope:
    'The requested scope is invalid, unknown, malformed, or exceeds the scope granted by the resource owner',
  authorization_pending:
    "The authorization request is still pending as the end user hasn't yet completed the user-interaction steps",
  access_denied: 'The authorization request was denied.',
  slow_down: 'The client is polling too quickly and should back off',
} as const;

export const AUTHORIZE_ERRORS = {
  invalid_request: 'The request is otherwise malformed',
  unauthorized_client: 'The client is not authorized to request an authorization code using this method',
  access_denied: 'The resource owner or authorization server denied the request',
  unsupported_response_type:
    'The authorization server does not support obtaining an authorization code using this method',
  invalid_scope: 'The requested scope is invalid, unknown, or malformed',
  server_error: 'The authorization server encountered an error',
  interaction_required: 'The Authorization Server requires End-User interaction of some form to proceed',
  login_required: 'The Authorization Server requires End-User authentication',
  consent_required: 'The Authorization Server requires End-Userconsent',
  request_not_supported: 'The provider does not support use of the request parameter',
  request_uri_not_supported: 'The provider does not support use of the request_uri parameter',
  registration_not_supported: 'The provider does not support use of the registration parameter',
} as const;
