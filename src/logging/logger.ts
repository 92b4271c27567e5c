import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { AppConfig } from '../config/config';
import { type AddressedRequest, clientAddress } from '../common/http/client-address';

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

function isDelimiter(code: number): boolean {
  // / ? & = # ;
  return code === 47 || code === 63 || code === 38 || code === 61 || code === 35 || code === 59;
}

/**
 * Keys are random: 16+ characters mixing letters and digits, or anything of 33+ characters, is treated as one. Route
 * words (`authorization_codes`), usernames and search terms stay readable; a UUID or a long slug does not, which is
 * the right side to err on.
 */
function isTokenLike(text: string, start: number, end: number): boolean {
  if (end - start > 32) return true;
  if (end - start < 16) return false;
  let digit = false;
  let letter = false;
  for (let i = start; i < end; i += 1) {
    const code = text.charCodeAt(i) | 0x20; // folds A-Z onto a-z
    if (code >= 0x30 && code <= 0x39) digit = true;
    else if (code >= 0x61 && code <= 0x7a) letter = true;
    if (digit && letter) return true;
  }
  return false;
}

function redactTokenLike(run: string): string {
  return isTokenLike(run, 0, run.length) ? '[redacted]' : run;
}

/** One pass without allocating: whether any run between delimiters looks like a key. */
function hasTokenLikeRun(url: string): boolean {
  let start = 0;
  for (let i = 0; i <= url.length; i += 1) {
    if (i === url.length || isDelimiter(url.charCodeAt(i))) {
      if (isTokenLike(url, start, i)) return true;
      start = i + 1;
    }
  }
  return false;
}

/**
 * A URL as logged: values of parameters named like secrets (`?access_token=`), and anything token-like anywhere in
 * the path or query (a key pasted into the path, or into `?q=`), are replaced with [redacted]. It runs for every
 * request logged, so the common case (nothing to hide) is one scan of the URL and no allocation.
 */
export function redactUrl(url: string): string {
  if (url.length < 16) return url;
  const named = url.includes('?') ? url.replace(SECRET_PARAM, '$1[redacted]') : url;
  return hasTokenLikeRun(named) ? named.replace(LONG_RUN, redactTokenLike) : named;
}

interface LoggedRequest extends AddressedRequest {
  method?: string;
  url?: string;
  socket?: { remoteAddress?: string; remotePort?: number };
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
          remoteAddress: clientAddress(request),
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
