import { Controller, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { APP_CONFIG, type AppConfig } from '../../../config/config';
import { CsrfTokens } from '../../../sessions/csrf';
import { messagePage, pageCsp } from '../../../sessions/pages';
import { type SignedIn, SessionService } from '../../../sessions/session.service';
import { ApplicationAccess } from '../access/application-access';
import { ConsentStore } from '../consent/consent-store';
import { type Client, Clients } from '../core/clients';
import { baseUrl, formField } from '../core/http';
import { AUTHORIZE_ERRORS } from '../core/oauth-errors';
import {
  accessDeniedPage,
  authorizeErrorPage,
  consentPage,
  formPostCsp,
  FormPostTargetError,
  formPostPage,
} from '../pages';
import { SCOPE_DESCRIPTIONS } from '../scope-descriptions';
import {
  type AuthorizeRequest,
  CLIENT_ID_ERROR,
  type RawParams,
  type RedirectError,
  REDIRECT_URI_ERROR,
  responseUrl,
  validateAuthorizeRequest,
} from './authorize-request';
import { FulfillAuthorizationCommand } from './fulfill-authorization.command';
import { sendPage } from '../../../sessions/send-page';

/** The parameters an authorization request may carry (authentik's from_request), carried through the consent form. */
const PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'response_mode',
  'scope',
  'state',
  'nonce',
  'prompt',
  'max_age',
  'code_challenge',
  'code_challenge_method',
  'login_hint',
  'ui_locales',
  'request',
  'request_uri',
  'registration',
] as const;

const AUTHORIZE_PATH = '/application/o/authorize/';
const DECISION_PATH = '/application/o/authorize/decision/';

function redirect(reply: FastifyReply, location: string): void {
  void reply.code(302).header('location', location).header('cache-control', 'no-store').send();
}

/**
 * authentik's AuthorizationFlowInitView at GET /application/o/authorize/, with Grantry's two pages instead of flows:
 * the sign-in page (src/sessions) and the consent page. A bad client or redirect URI is an HTML page, never a
 * redirect; every other error goes back to the client's redirect URI.
 */
@ApiExcludeController()
@Public()
@Controller()
export class AuthorizeController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly clients: Clients,
    private readonly sessions: SessionService,
    private readonly access: ApplicationAccess,
    private readonly consent: ConsentStore,
    private readonly csrf: CsrfTokens,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get('application/o/authorize')
  async authorize(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const query = request.query as Record<string, unknown>;
    const raw = pick((name) => {
      const value = query[name];
      return Array.isArray(value) ? (value[0] as unknown) : value;
    });
    // authentik answers an empty query with a 404.
    if (Object.keys(raw).length === 0) {
      return sendPage(
        reply,
        404,
        messagePage('Not found', 'There is nothing here.', '/account/', 'Your account'),
      );
    }
    await this.handle(request, reply, raw, undefined);
  }

  /** The consent form's answer: the authorization request again (re-validated), a CSRF token and the decision. */
  @Post('application/o/authorize/decision')
  async decide(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const raw = pick((name) => formField(request, name));
    const decision = formField(request, 'decision');
    const signedIn = await this.sessions.current(request);
    if (!signedIn || !this.csrf.valid(signedIn.token, 'consent', formField(request, 'csrf_token'))) {
      return sendPage(
        reply,
        403,
        messagePage(
          'Form expired',
          'This form has expired or was not sent by this site. Start again from the application.',
          '/account/',
          'Your account',
        ),
      );
    }
    await this.handle(request, reply, raw, decision === 'allow' ? 'allow' : 'deny');
  }

  private async handle(
    request: FastifyRequest,
    reply: FastifyReply,
    raw: RawParams,
    decision: 'allow' | 'deny' | undefined,
  ): Promise<void> {
    const client = await this.clients.find(raw.client_id ?? '');
    if (!client || client.application === null) {
      return sendPage(reply, 400, authorizeErrorPage({ title: 'Client ID Error', message: CLIENT_ID_ERROR }));
    }
    await this.adoptFirstRedirectUri(client, raw.redirect_uri);
    const validated = validateAuthorizeRequest(client.provider, raw);
    if ('kind' in validated) {
      if (validated.kind === 'page') {
        return sendPage(
          reply,
          400,
          authorizeErrorPage({ title: validated.title, message: REDIRECT_URI_ERROR }),
        );
      }
      return this.sendError(reply, validated);
    }
    const params = validated;
    const errorTo = (error: RedirectError['error']): RedirectError => ({
      kind: 'redirect',
      error,
      redirectUri: params.redirectUri,
      fragment: params.responseMode === 'fragment',
      responseMode: params.responseMode,
      state: params.state,
    });

    const signedIn = await this.sessions.current(request);
    if (!signedIn) {
      if (params.prompt.has('none')) return this.sendError(reply, errorTo('login_required'));
      return redirect(reply, this.loginUrl(raw, params, false));
    }
    const ageSeconds = (Date.now() - signedIn.session.created.getTime()) / 1000;
    const stale = params.maxAge !== undefined && ageSeconds > params.maxAge;
    if (decision === undefined && (params.prompt.has('login') || stale)) {
      if (params.prompt.has('none')) return this.sendError(reply, errorTo('login_required'));
      return redirect(reply, this.loginUrl(raw, params, true));
    }
    const application = client.application;
    if (application === null) return;
    if (!(await this.access.allowed(signedIn.user.id, application.id))) {
      return sendPage(reply, 403, accessDeniedPage({ applicationName: application.name }));
    }
    if (decision === 'deny') {
      await this.commandBus.execute(
        new FulfillAuthorizationCommand(
          client,
          params,
          signedIn,
          baseUrl(request, this.config),
          request.id,
          false,
        ),
      );
      return this.sendError(reply, errorTo('access_denied'));
    }
    if (decision === undefined) {
      const required = await this.consent.required({
        userId: signedIn.user.id,
        applicationId: application.id,
        scopes: params.scopes,
        mode: client.provider.consentMode,
        forced: params.prompt.has('consent'),
      });
      if (required) {
        if (params.prompt.has('none')) return this.sendError(reply, errorTo('consent_required'));
        return this.showConsent(reply, client, params, raw, signedIn);
      }
    } else {
      await this.consent.record({
        userId: signedIn.user.id,
        applicationId: application.id,
        scopes: params.scopes,
        mode: client.provider.consentMode,
        expireIn: client.provider.consentExpireIn,
      });
    }
    const fields = await this.commandBus.execute(
      new FulfillAuthorizationCommand(
        client,
        params,
        signedIn,
        baseUrl(request, this.config),
        request.id,
        true,
      ),
    );
    this.respond(reply, params.redirectUri, params.responseMode, fields ?? {});
  }

  /**
   * authentik's check_redirect_uri: a provider with no redirect URIs saves the first one presented as a strict
   * authorization URI (only when it still has none, so two first requests cannot both save theirs).
   */
  private async adoptFirstRedirectUri(client: Client, presented: string | undefined): Promise<void> {
    if (client.provider.redirectUris.length > 0 || presented === undefined) return;
    const saved = await this.clients.adoptRedirectUri(client.provider.id, presented);
    client.provider.redirectUris = saved;
  }

  private loginUrl(raw: RawParams, params: AuthorizeRequest, force: boolean): string {
    // After signing in, the browser comes back here without `prompt=login`, or it would be asked again forever.
    const back: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) if (value !== undefined) back[name] = value;
    if (back.prompt !== undefined) {
      const rest = back.prompt.split(/\s+/).filter((value) => value !== '' && value !== 'login');
      if (rest.length > 0) back.prompt = rest.join(' ');
      else delete back.prompt;
    }
    const next = `${AUTHORIZE_PATH}?${new URLSearchParams(back).toString()}`;
    const login = new URLSearchParams({ next });
    if (force) login.set('prompt', 'login');
    if (params.loginHint !== undefined) login.set('login_hint', params.loginHint);
    return `/login/?${login.toString()}`;
  }

  private async showConsent(
    reply: FastifyReply,
    client: Client,
    params: AuthorizeRequest,
    raw: RawParams,
    signedIn: SignedIn,
  ): Promise<void> {
    const application = client.application;
    if (application === null) return;
    const alreadyConsented = await this.consent.previouslyConsented({
      userId: signedIn.user.id,
      applicationId: application.id,
    });
    const hidden: Record<string, string> = {};
    for (const [name, value] of Object.entries(raw)) if (value !== undefined) hidden[name] = value;
    sendPage(
      reply,
      200,
      consentPage({
        applicationName: application.name,
        username: signedIn.user.username,
        scopes: params.scopes.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] ?? '' })),
        alreadyConsented,
        csrf: this.csrf.token(signedIn.token, 'consent'),
        hidden,
        action: DECISION_PATH,
      }),
      // Allow and Deny both end in a redirect to the client, which form-action must allow.
      pageCsp(params.redirectUri),
    );
  }

  private sendError(reply: FastifyReply, error: RedirectError): void {
    const fields: Record<string, string> = {
      error: error.error,
      error_description: AUTHORIZE_ERRORS[error.error],
    };
    if (error.state !== '') fields.state = error.state;
    this.respond(reply, error.redirectUri, error.responseMode, fields, error.fragment);
  }

  private respond(
    reply: FastifyReply,
    redirectUri: string,
    mode: AuthorizeRequest['responseMode'],
    fields: Record<string, string>,
    fragment = mode === 'fragment',
  ): void {
    if (mode === 'form_post') {
      let csp: string;
      try {
        csp = formPostCsp(redirectUri);
      } catch (error) {
        if (!(error instanceof FormPostTargetError)) throw error;
        return sendPage(
          reply,
          400,
          authorizeErrorPage({ title: 'Redirect URI Error', message: REDIRECT_URI_ERROR }),
        );
      }
      return sendPage(reply, 200, formPostPage({ action: redirectUri, fields }), csp);
    }
    redirect(reply, responseUrl(redirectUri, fields, fragment));
  }
}

function pick(read: (name: string) => unknown): RawParams {
  const raw: Record<string, string | undefined> = {};
  for (const name of PARAMS) {
    const value = read(name);
    if (typeof value === 'string') raw[name] = value;
  }
  return raw;
}
