/**
 * The page frame: one stylesheet inline (no extra request, works offline), a skip link, a live
 * region that says when the page last updated. Colours meet WCAG AA contrast on white; tables
 * scroll sideways on a phone instead of squeezing; every badge says its state in words.
 */
import { html, raw, type Html } from './html';

const CSS = `
:root { --fg:#1a1a1a; --muted:#595959; --line:#d0d0d0; --bg:#fff; --head:#f3f4f6; --link:#0b57d0;
  --ok-bg:#e6f4ea; --ok:#0d5c2e; --warn-bg:#fff4e5; --warn:#7a4100; --bad-bg:#fde7e9; --bad:#a4000f; --info-bg:#e8f0fe; --info:#0b3d91; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--link); } a:focus-visible, button:focus-visible { outline:3px solid #ff9800; outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; z-index:2; }
header.top { display:flex; flex-wrap:wrap; gap:.5rem 1.5rem; align-items:baseline; padding:.75rem 1rem; border-bottom:1px solid var(--line); background:var(--head); }
header.top h1 { font-size:1.15rem; margin:0; } header.top nav a { margin-right:1rem; }
#live { color:var(--muted); font-size:.85rem; margin-left:auto; }
main { padding:1rem; max-width:1400px; }
h2 { font-size:1.05rem; margin:1.5rem 0 .5rem; } h2 .count { color:var(--muted); font-weight:normal; }
.meta { color:var(--muted); margin:.25rem 0 1rem; }
.scroll { overflow-x:auto; -webkit-overflow-scrolling:touch; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; font-size:.9rem; }
th, td { text-align:left; padding:.4rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; white-space:nowrap; }
td.wrap { white-space:normal; min-width:16rem; }
th { background:var(--head); font-weight:600; position:sticky; top:0; }
tr:last-child td { border-bottom:none; }
.badge { display:inline-block; padding:0 .45rem; border-radius:999px; font-size:.8rem; font-weight:600; border:1px solid currentColor; }
.ok { background:var(--ok-bg); color:var(--ok); } .warn { background:var(--warn-bg); color:var(--warn); }
.bad { background:var(--bad-bg); color:var(--bad); } .info { background:var(--info-bg); color:var(--info); } .muted { color:var(--muted); background:#fff; }
.sub { color:var(--muted); font-size:.8rem; }
.empty { color:var(--muted); font-style:italic; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(10rem, 1fr)); gap:.75rem; }
.card { border:1px solid var(--line); border-radius:6px; padding:.6rem .8rem; } .card b { display:block; font-size:1.4rem; }
form.apply { margin:.75rem 0; display:flex; flex-wrap:wrap; gap:.5rem; align-items:center; }
form.apply button { font:inherit; font-weight:600; padding:.45rem .9rem; border-radius:6px; border:1px solid var(--bad); background:var(--bad); color:#fff; cursor:pointer; }
pre { background:var(--head); padding:.75rem; overflow-x:auto; border-radius:6px; font-size:.85rem; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; } dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; }
@media (max-width: 640px) { main { padding:.5rem; } th, td { padding:.35rem .4rem; } #live { margin-left:0; width:100%; } }
`;

export function layout(title: string, body: Html, opts: { version: string }): string {
  return (
    `<!doctype html>\n` +
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · shipshape</title>
        <style>
          ${raw(CSS)}
        </style>
        <script src="/ui.js" defer></script>
      </head>
      <body data-version="${opts.version}">
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <h1><a href="/">shipshape</a></h1>
          <nav aria-label="Main"><a href="/">Estate</a><a href="/runs">Runs</a></nav>
          <span id="live" role="status" aria-live="polite">read-only · updates when a run starts or ends</span>
        </header>
        <main id="main" tabindex="-1">${body}</main>
      </body>
    </html> `.text
  );
}

/** The whole of the page's JavaScript: without it the page is complete, with it it updates itself. */
export const UI_JS = `(() => {
  if (!('EventSource' in window) || !window.fetch || !window.DOMParser) return;
  const live = document.getElementById('live');
  const es = new EventSource('/events');
  let current = document.body.dataset.version;
  es.addEventListener('runs', async (ev) => {
    if (ev.data === current) return;
    try {
      const res = await fetch(location.pathname + location.search, { headers: { accept: 'text/html' } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const next = doc.getElementById('main');
      if (!next) return;
      document.getElementById('main').innerHTML = next.innerHTML;
      current = doc.body.dataset.version;
      document.body.dataset.version = current;
      live.textContent = 'updated ' + new Date().toLocaleTimeString() + ' (live)';
    } catch (e) { /* the next event tries again */ }
  });
  es.onopen = () => { live.textContent = 'live: updates when a run starts or ends'; };
  es.onerror = () => { live.textContent = 'live updates paused: reconnecting…'; };
})();
`;
