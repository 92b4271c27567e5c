/**
 * A cookie-keeping HTTP client for the browser pages, over real sockets (fetch, redirects not followed). Every
 * request may carry extra headers (X-Forwarded-For, X-Forwarded-Proto) for the proxy cases.
 */
export interface WebResponse {
  status: number;
  headers: Headers;
  text: string;
  setCookies: string[];
}

export class WebClient {
  readonly cookies = new Map<string, string>();

  constructor(
    public base: string,
    public headers: Record<string, string> = {},
  ) {}

  private cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') };
  }

  async send(method: string, path: string, init: RequestInit): Promise<WebResponse> {
    const response = await fetch(`${this.base}${path}`, {
      ...init,
      method,
      redirect: 'manual',
      headers: { ...this.headers, ...this.cookieHeader(), ...(init.headers as Record<string, string>) },
    });
    const setCookies = response.headers.getSetCookie();
    for (const cookie of setCookies) {
      const [pair = ''] = cookie.split(';');
      const equals = pair.indexOf('=');
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      if (/;\s*Max-Age=0(;|$)/i.test(cookie) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: response.status, headers: response.headers, text: await response.text(), setCookies };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<WebResponse> {
    return this.send('GET', path, { headers });
  }

  post(
    path: string,
    form: Record<string, string> | string,
    headers: Record<string, string> = {},
  ): Promise<WebResponse> {
    const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
    return this.send('POST', path, {
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    });
  }
}

/** The CSRF token in a page's form. */
export function formToken(html: string): string {
  const match = /name="csrf_token" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error(`no csrf_token in:\n${html.slice(0, 500)}`);
  return match[1];
}
