const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi;

/**
 * Keeps only the origin of URLs quoted in a message: runtimes' fetch errors quote the URL (Deno
 * the whole of it), and for Slack or Discord webhooks (or `user:pass@` URLs) the rest of it is the
 * secret. A URL with a path or query becomes `origin/…`, so the cut is visible.
 */
export function redactUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => {
    if (!URL.canParse(url)) return "[url]";
    const { protocol, host, pathname, search } = new URL(url);
    const origin = host ? `${protocol}//${host}` : `${protocol}//`;
    return pathname.length > 1 || search ? `${origin}/…` : origin;
  });
}
