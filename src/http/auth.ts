import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { NextFunction, Request, Response } from 'express';

/**
 * HTTP basic authentication against bcrypt hashes. bcrypt is slow on purpose (tens of ms), so a
 * successful (user, password) pair is remembered by its SHA-256 for a while: Prometheus scraping every
 * few seconds must not cost a bcrypt each time. Failures are never cached, so guessing stays slow.
 */
export function basicAuth(users: ReadonlyMap<string, string>, exempt: ReadonlySet<string>) {
  const verified = new Map<string, number>();
  const TTL_MS = 5 * 60_000;
  const MAX_CACHE = 1024;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (exempt.has(req.path)) return next();
    const header = req.headers.authorization ?? '';
    const m = /^Basic ([A-Za-z0-9+/=]{1,1024})$/.exec(header);
    const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon > 0 ? decoded.slice(0, colon) : '';
    const password = colon > 0 ? decoded.slice(colon + 1) : '';
    const hash = users.get(user);
    const deny = (): void => {
      res.set('WWW-Authenticate', 'Basic realm="sip-response-exporter", charset="UTF-8"').status(401).type('text/plain').send('Unauthorized\n');
    };
    if (hash === undefined) return deny();
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash).digest('hex');
    const at = verified.get(key);
    if (at !== undefined && Date.now() - at < TTL_MS) return next();
    bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$')).then(
      (ok) => {
        if (!ok) return deny();
        if (verified.size >= MAX_CACHE) verified.clear();
        verified.set(key, Date.now());
        next();
      },
      () => deny(),
    );
  };
}
