// The service worker behind offline Today (served at /sheet/sw.js, scope /programme/).
//
// - When the client opens Today, the page (static/js/offline.js) sends the addresses of Today
//   and the exercise pages it links to; they are fetched and kept, with the styles, scripts
//   and pictures they use, in one cache per signed-in client.
// - Online, every page comes from the network first, and the kept copy is refreshed; offline
//   (or when the network doesn't answer in time), the kept copy is served, marked with
//   data-offline-copy="<when it was saved>" on <html> so the page can say so.
// - Styles, scripts and pictures have content-hashed names (portal/web/static_files.py),
//   served as immutable: a kept one is served as it is, since that name never changes
//   content. A page refreshed online may name new ones: they are kept as that page loads
//   them, and each precache drops those no kept page uses any more.
// - Only GET requests are handled: a log sent while offline is kept by offline.js, never
//   here, and replayed with the same client_key, so the server stores it once.
// - Signing out (a page of the scope answered with a redirect, i.e. to the login page) or
//   another client signing in on the same phone deletes the kept copies.
//
// A classic script rather than a module: module service workers are not everywhere yet.

const VERSION = "v1";
const PREFIX = "portal-programme-";
const CACHE_PREFIX = `${PREFIX}${VERSION}-user-`;
const STAMP = "X-Offline-Saved-At";
// How long a page may take online before the kept copy is shown instead (a weak signal).
const NETWORK_TIMEOUT_MS = 5000;
// A generous ceiling on what one precache request may fetch.
const MAX_URLS = 150;

const scope = new URL(self.registration.scope);

function sameOrigin(url) {
  return url.origin === self.location.origin;
}

function inScope(url) {
  return sameOrigin(url) && url.pathname.startsWith(scope.pathname);
}

async function keptCache() {
  const name = (await caches.keys()).find((key) => key.startsWith(CACHE_PREFIX));
  return name ? caches.open(name) : null;
}

async function forgetAll() {
  const keys = await caches.keys();
  await Promise.all(keys.filter((key) => key.startsWith(PREFIX)).map((key) => caches.delete(key)));
}

// A copy of a page with the time it was saved, for the "as of" banner.
async function stamped(response) {
  const headers = new Headers(response.headers);
  headers.set(STAMP, new Date().toISOString());
  const body = await response.blob();
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

function isHtml(response) {
  return (response.headers.get("Content-Type") || "").startsWith("text/html");
}

// A hashed asset: its name changes with its content, so a kept copy is never out of date.
function isImmutable(response) {
  return /\bimmutable\b/.test(response.headers.get("Cache-Control") || "");
}

// The styles, scripts and pictures a kept page loads (its <link>, <script> and <img>).
function subresources(html, base) {
  const found = new Set();
  const pattern = /<(?:link|script|img)\b[^>]*?\s(?:href|src)="([^"]+)"/gi;
  for (const match of html.matchAll(pattern)) {
    const url = new URL(match[1].replaceAll("&amp;", "&"), base);
    if (sameOrigin(url) && !inScope(url)) found.add(url.href);
  }
  return found;
}

// Every asset the kept pages load.
async function assetsOfKeptPages(cache) {
  const used = new Set();
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (!inScope(url)) continue;
    const kept = await cache.match(request);
    if (kept) for (const asset of subresources(await kept.text(), url)) used.add(asset);
  }
  return used;
}

// The site's stylesheet as the kept pages link it (its name changes with its content).
async function keptStylesheet(cache) {
  if (!cache) return null;
  for (const request of await cache.keys()) {
    if (!inScope(new URL(request.url))) continue;
    const kept = await cache.match(request);
    const link = kept && /<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"/i.exec(await kept.text());
    if (link) return new URL(link[1].replaceAll("&amp;", "&"), request.url).pathname;
  }
  return null;
}

// Whether a request comes from a page of the scope (whose assets are kept with it).
async function fromScopePage(event) {
  const client = event.clientId ? await self.clients.get(event.clientId) : null;
  return Boolean(client && inScope(new URL(client.url)));
}

async function precache(message) {
  const user = String(message.user || "");
  if (!/^\d+$/.test(user)) return { pages: 0, assets: 0 };
  const name = CACHE_PREFIX + user;
  // One client's copies per phone: a different client signing in replaces them.
  const keys = await caches.keys();
  await Promise.all(keys.filter((key) => key.startsWith(PREFIX) && key !== name)
    .map((key) => caches.delete(key)));
  const cache = await caches.open(name);
  const pages = [...new Set(message.pages || [])]
    .map((raw) => new URL(raw, self.location.href))
    .filter(inScope)
    .slice(0, MAX_URLS);
  const assets = new Set();
  let keptPages = 0;
  for (const url of pages) {
    let response;
    try {
      response = await fetch(url.href, { credentials: "same-origin", cache: "no-store" });
    } catch {
      continue; // the connection dropped: keep what we have
    }
    if (response.redirected) {
      // Signed out meanwhile (the login page answered): nothing may stay on the phone.
      await forgetAll();
      return { pages: 0, assets: 0 };
    }
    if (!response.ok || !isHtml(response)) continue;
    const copy = await stamped(response.clone());
    for (const asset of subresources(await response.text(), url)) assets.add(asset);
    await cache.put(url.href, copy);
    keptPages += 1;
  }
  // Pages of an older programme version (their items are gone) leave with it.
  const wanted = new Set(pages.map((url) => url.href));
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (inScope(url) && !wanted.has(url.href)) await cache.delete(request);
  }
  let keptAssets = 0;
  for (const href of [...assets].slice(0, MAX_URLS)) {
    try {
      const response = await fetch(href, { credentials: "same-origin" });
      if (response.ok && !response.redirected) {
        await cache.put(href, response);
        keptAssets += 1;
      }
    } catch {
      // The next visit tries again.
    }
  }
  // Assets of an earlier release (other hashed names) leave once no kept page uses them;
  // those of a page that could not be refreshed just now stay with its kept copy.
  const used = await assetsOfKeptPages(cache);
  for (const request of await cache.keys()) {
    const url = new URL(request.url);
    if (!inScope(url) && !used.has(url.href)) await cache.delete(request);
  }
  return { pages: keptPages, assets: keptAssets };
}

// The kept copy of a page, marked so the page knows it is one and since when.
async function offlineCopy(kept) {
  const saved = (kept.headers.get(STAMP) || "").replace(/[^0-9TZ:.+-]/g, "");
  const html = await kept.text();
  const marked = html.replace(/<html\b/i, `<html data-offline-copy="${saved}"`);
  const headers = new Headers(kept.headers);
  headers.delete("Content-Length");
  return new Response(marked, { status: 200, headers });
}

function offlinePage(stylesheet) {
  const styles = stylesheet ? `<link rel="stylesheet" href="${stylesheet}">` : "";
  const html = `<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>You're offline</title>
${styles}
</head>
<body>
<main id="main" class="page page--narrow">
<div class="card">
<h1>You're offline</h1>
<p>This page isn't saved on this phone. Today and your exercises are, once you have opened Today online.</p>
<p><a class="button button--primary" href="${scope.pathname}">Open Today</a></p>
</div>
</main>
</body>
</html>`;
  return new Response(html, {
    status: 503,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": "default-src 'self'; script-src 'none'; base-uri 'none'",
      "Cache-Control": "no-store",
    },
  });
}

function timeout(ms) {
  return new Promise((resolve) => setTimeout(() => resolve(null), ms));
}

// Network first; the kept copy when the network fails (or is too slow and a copy exists).
// A kept hashed asset is served at once: the network could only send the same bytes.
async function networkFirst(event, { page }) {
  const request = event.request;
  const cache = await keptCache();
  let kept = cache ? await cache.match(request, { ignoreVary: true }) : undefined;
  if (!page && kept && isImmutable(kept)) return kept;
  if (!kept && cache && page) {
    // The same page with another query ("Tell us how it felt" after a tap kept offline adds
    // log=<key>): its kept copy will do, and offline.js reads the query from the address.
    kept = await cache.match(request, { ignoreVary: true, ignoreSearch: true });
  }
  const network = fetch(request);
  const update = network.then(async (response) => {
    if (page && response.type === "opaqueredirect") {
      // A page of the scope sent us elsewhere: that is the login page. Forget everything.
      await forgetAll();
    } else if (cache && response.ok && (!page || isHtml(response))) {
      const url = request.url;
      // Cloned at once: the page starts reading the response as soon as it is returned.
      const copy = response.clone();
      if (page) await cache.put(url, await stamped(copy));
      else if (kept || await fromScopePage(event)) await cache.put(url, copy);
    }
  }).catch(() => {});
  event.waitUntil(update);
  try {
    const response = await (kept ? Promise.race([network, timeout(NETWORK_TIMEOUT_MS)]) : network);
    if (response) return response;
  } catch {
    // Offline: fall through to the kept copy.
  }
  if (kept) return page ? offlineCopy(kept) : kept;
  return page ? offlinePage(await keptStylesheet(cache)) : Response.error();
}

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const keys = await caches.keys();
    await Promise.all(keys.filter((key) => key.startsWith(PREFIX) && !key.startsWith(PREFIX + VERSION))
      .map((key) => caches.delete(key)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!sameOrigin(url)) return;
  if (request.mode === "navigate") {
    if (inScope(url)) event.respondWith(networkFirst(event, { page: true }));
    return;
  }
  // A script's own fetch of a page (offline.js asking Today for a fresh CSRF token) goes
  // straight to the network; assets (styles, scripts, pictures) may come from the cache.
  if (inScope(url)) return;
  event.respondWith(networkFirst(event, { page: false }));
});

self.addEventListener("message", (event) => {
  const data = event.data || {};
  const reply = (answer) => {
    if (event.ports && event.ports[0]) event.ports[0].postMessage(answer);
  };
  if (data.type === "precache") {
    event.waitUntil(precache(data).then(
      (result) => reply({ type: "precached", ...result }),
      () => reply({ type: "precached", pages: 0, assets: 0, failed: true }),
    ));
  } else if (data.type === "forget") {
    event.waitUntil(forgetAll().then(() => reply({ type: "forgotten" })));
  }
});
