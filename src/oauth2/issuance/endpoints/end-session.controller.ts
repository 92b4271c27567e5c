import { Controller, Get, HttpStatus, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../../../common/auth/public.decorator';
import { ApiError, DETAIL } from '../../../common/errors/api-error';
import { html, layout } from '../../../sessions/pages';
import { SessionService } from '../../../sessions/session.service';
import { formField, queryField } from '../core/http';
import { EndProviderSessionCommand } from './end-session.command';
import { sendPage } from '../../../sessions/send-page';

export const END_SESSION_ROUTE = 'application/o/:slug/end-session';

/** authentik's message for a post_logout_redirect_uri with a forbidden scheme (shown on its bad-request page). */
export const FORBIDDEN_POST_LOGOUT_SCHEME = 'Forbidden URI scheme in post_logout_redirect_uri';

/** The page shown after signing out of an application when the client named no (registered) place to go back to. */
export function signedOutPage(applicationName: string, stillSignedIn: boolean): string {
  const grantry = stillSignedIn
    ? '<p>You are still signed in to Grantry, and to your other applications.</p>'
    : '<p>You are not signed in to Grantry.</p>';
  return layout(
    'Signed out',
    `<h1>You have signed out of ${html(applicationName)}</h1>
${grantry}
<p><a href="/account/">Go to your account</a></p>`,
  );
}

/**
 * A URI as a Location header may carry it: a regex-registered URI can match characters Node refuses in a header
 * (anything outside printable ASCII), which are percent-encoded as UTF-8 instead of failing the response.
 */
function headerSafe(uri: string): string {
  return uri.replace(/[^\x21-\x7e]/gu, (char) =>
    [...Buffer.from(char, 'utf8')]
      .map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`)
      .join(''),
  );
}

/**
 * authentik's EndSessionView at GET and POST /application/o/<slug>/end-session/ (OpenID Connect RP-Initiated Logout):
 * parameters from the query on GET and from the form on POST.
 */
@ApiExcludeController()
@Public()
@Controller()
export class EndSessionController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly sessions: SessionService,
  ) {}

  @Get(END_SESSION_ROUTE)
  getEndSession(
    @Param('slug') slug: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.endSession(slug, request, reply, (name) => queryField(request, name));
  }

  @Post(END_SESSION_ROUTE)
  postEndSession(
    @Param('slug') slug: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.endSession(slug, request, reply, (name) => formField(request, name));
  }

  private async endSession(
    slug: string,
    request: FastifyRequest,
    reply: FastifyReply,
    param: (name: string) => string | undefined,
  ): Promise<void> {
    const signedIn = await this.sessions.current(request);
    const outcome = await this.commandBus.execute(
      new EndProviderSessionCommand(
        slug,
        signedIn,
        param('post_logout_redirect_uri'),
        param('state'),
        request.id,
      ),
    );
    switch (outcome.kind) {
      case 'not_found':
        throw new ApiError(HttpStatus.NOT_FOUND, DETAIL.notFound);
      case 'forbidden_scheme':
        return sendPage(
          reply,
          400,
          layout(
            'Bad request',
            `<h1>Bad request</h1>
<p class="alert" role="alert">${html(FORBIDDEN_POST_LOGOUT_SCHEME)}</p>`,
          ),
        );
      case 'ended':
        if (outcome.redirect !== undefined) {
          void reply.code(302).header('location', headerSafe(outcome.redirect)).send('');
          return;
        }
        return sendPage(reply, 200, signedOutPage(outcome.applicationName, signedIn !== undefined));
    }
  }
}
