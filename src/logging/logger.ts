import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { AppConfig } from '../config/config';

/**
 * Paths pino must never print. Request headers are not serialized by default; these cover the cases where a header
 * object or a secret-bearing field is logged explicitly.
 */
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'rawPacket',
  'err.rawPacket',
  'authorization',
  'key',
  'token',
  'password',
  'client_secret',
  '*.key',
  '*.token',
  '*.password',
  '*.client_secret',
];

const SECRET_PARAM =
  /([?&;](?:access_token|refresh_token|id_token|token|key|api_key|apikey|code|client_secret|secret|password)=)[^&#;]*/gi;

/** A run of at least 16 characters between URL delimiters: a candidate for a key put where it does not belong. */
const LONG_RUN = /[^/?&=#;]{16,}/g;
const DIGIT = /\d/;
const LETTER = /[A-Za-z]/;

/**
 * Keys are random: 16+ characters mixing letters and digits, or anything of 33+ characters, is treated as one. Route
 * words (`authorization_codes`), usernames and search terms stay readable; a UUID or a long slug does not, which is
 * the right side to err on.
 */
function redactTokenLike(run: string): string {
  return run.length > 32 || (DIGIT.test(run) && LETTER.test(run)) ? '[redacted]' : run;
}

/**
 * A URL as logged: values of parameters named like secrets (`?access_token=`), and anything token-like anywhere in
 * the path or query (a key pasted into the path, or into `?q=`), are replaced with [redacted].
 */
export function redactUrl(url: string): string {
  if (url.length < 16) return url;
  return url.replace(SECRET_PARAM, '$1[redacted]').replace(LONG_RUN, redactTokenLike);
}

interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

export function createLogger(
  config: Pick<AppConfig, 'logLevel'>,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { service: 'grantry' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        req: (request: LoggedRequest) => ({
          method: request.method,
          url: redactUrl(request.url ?? ''),
          remoteAddress: request.ip,
          remotePort: request.socket?.remotePort,
        }),
      },
    },
    destination,
  );
}

/** Lets Nest's own messages (module init, route mapping, errors) go through the same structured logger. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
}
