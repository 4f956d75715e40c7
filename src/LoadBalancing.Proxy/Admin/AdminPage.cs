using System.Security.Cryptography;
using System.Text;

namespace LoadBalancing.Proxy.Admin;

/// <summary>
/// <c>GET /</c> on the admin port: one self-contained HTML page whose script reads <c>backends</c> and <c>readyz</c>
/// (relative URLs, so it works behind the API server's pod proxy path too) and draws every cluster and endpoint as
/// sortable tables, refreshed every few seconds. Nothing is fetched from elsewhere; data only ever reaches the page
/// as text nodes.
/// </summary>
internal static class AdminPage
{
    /// <summary>The page, encoded once.</summary>
    public static readonly byte[] Utf8 = Encoding.UTF8.GetBytes("""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer">
        <title>proxy backends</title>
        <style>
        """ + Style + """
        </style>
        </head>
        <body>
        <header>
        <h1>Proxy backends</h1>
        <div class="summary">
        <span id="readiness" class="readiness readiness-unknown">readiness unknown</span>
        <span id="generated"></span>
        <span id="counts"></span>
        <label><input type="checkbox" id="auto" checked> refresh every <span id="every">5</span> s</label>
        <button type="button" id="refresh">refresh now</button>
        </div>
        <details id="readyz-details"><summary>/readyz</summary><pre id="readyz"></pre></details>
        <p id="error" class="error" hidden></p>
        </header>
        <main id="clusters"></main>
        <section id="routes-section" hidden><h2>Routes</h2><div id="routes"></div></section>
        <section id="sources-section" hidden><h2>Route sources</h2><div id="sources"></div></section>
        <script>
        """ + Script + """
        </script>
        </body>
        </html>

        """);

    /// <summary>
    /// Inline script and style are allowed by their hashes alone, and the page may only talk to its own origin:
    /// an injected element could neither run nor send anything anywhere.
    /// </summary>
    public static readonly string ContentSecurityPolicy =
        $"default-src 'none'; script-src '{Hash(Script)}'; style-src '{Hash(Style)}'; connect-src 'self'; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static string Hash(string inline) => "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(inline)));

    private const string Style = """

        :root { font-family: system-ui, sans-serif; font-size: 13px; color: #1d1d1f; background: #fff; }
        body { margin: 0 1.5rem 2rem; }
        h1 { font-size: 1.4rem; margin: 1rem 0 .4rem; }
        h2 { font-size: 1.15rem; margin: 1.6rem 0 .4rem; }
        .summary { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: center; }
        .readiness { font-weight: 600; padding: .1rem .5rem; border-radius: .3rem; }
        .readiness-ready { background: #d8f3dc; color: #1b5e20; }
        .readiness-not-ready { background: #fddede; color: #8b0000; }
        .readiness-unknown { background: #eee; color: #555; }
        details { margin: .4rem 0; }
        pre { margin: .3rem 0; padding: .4rem .6rem; background: #f6f6f6; white-space: pre-wrap; }
        .error { color: #8b0000; background: #fddede; padding: .4rem .6rem; }
        dl.facts { display: flex; flex-wrap: wrap; gap: .2rem 1.4rem; margin: .3rem 0 .6rem; }
        dl.facts div { display: flex; gap: .4rem; white-space: nowrap; }
        dl.facts dt { color: #666; }
        dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
        .freshness { font-weight: 600; padding: 0 .4rem; border-radius: .3rem; }
        .freshness-current { background: #d8f3dc; color: #1b5e20; }
        .freshness-static { background: #e8e8e8; color: #444; }
        .freshness-stale-unreachable { background: #ffe8b3; color: #7a4b00; }
        .freshness-never-synced, .freshness-stale-not-converging { background: #fddede; color: #8b0000; }
        .table-wrap { overflow-x: auto; }
        table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th, td { padding: .2rem .45rem; border-bottom: 1px solid #e4e4e4; text-align: left; white-space: nowrap; }
        th { white-space: normal; vertical-align: bottom; min-width: 2.5rem; }
        td.num, th.num { text-align: right; }
        th { background: #f3f3f3; position: sticky; top: 0; }
        th button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; color: inherit; }
        th[aria-sort] { background: #e2e9f3; }
        .sort-indicator { display: inline-block; width: 1em; color: #2857a4; }
        tr.ejected td { background: #fff4e0; }
        td.bad { color: #a00000; font-weight: 600; }
        td.last-error { white-space: normal; min-width: 14rem; max-width: 28rem; }
        .muted { color: #888; }

        """;

    private const string Script = """

        'use strict';
        (() => {
          const query = new URLSearchParams(location.search);
          const only = query.get('cluster');
          const every = Math.min(3600, Math.max(1, Math.round(Number(query.get('refresh'))) || 5)); // ?refresh=SECONDS
          const sorts = new Map(); // table id -> { key, desc }
          const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
          let last = null;
          let timer = 0;
          let refreshes = 0;
          const $ = id => document.getElementById(id);

          // Builds an element; every child that is not a node becomes a text node, so data is never parsed as HTML.
          function el(tag, attrs, ...children) {
            const e = document.createElement(tag);
            for (const [k, v] of Object.entries(attrs || {})) {
              if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
            }
            for (const c of children) {
              if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
            }
            return e;
          }

          const time = t => t ? String(t).replace('T', ' ').replace(/\.\d+/, '').replace(/(\+00:00|Z)$/, ' UTC') : '';
          const sum = o => Object.values(o || {}).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
          const parts = o => Object.entries(o || {}).map(([k, v]) => k + ' ' + v).join(', ');
          const count = (label, get) => ({ key: label, label, num: true, value: get, bad: true });
          const endpoint = e => (String(e.address).includes(':') ? '[' + e.address + ']' : e.address) + ':' + e.port;

          const endpointColumns = [
            { key: 'address', label: 'address', value: endpoint },
            { key: 'zone', label: 'zone', value: e => e.zone ?? '' },
            { key: 'weight', label: 'weight', num: true, value: e => e.weight },
            { key: 'conditions', label: 'conditions', value: e => (e.conditions || []).join(', ') },
            { key: 'state', label: 'state', value: e => e.ejected ? 'ejected' : 'in rotation' },
            { key: 'ejectedUntil', label: 'ejected until', value: e => e.ejected ? e.ejectedUntil : null, show: time },
            { key: 'inFlight', label: 'in flight', num: true, value: e => e.inFlight },
            { key: 'ewmaMilliseconds', label: 'EWMA ms', num: true, value: e => e.ewmaMilliseconds ?? null },
            { key: 'requests', label: 'requests', num: true, value: e => e.requests },
            { key: '2xx', label: '2xx', num: true, value: e => e.responses?.['2xx'] },
            { key: '3xx', label: '3xx', num: true, value: e => e.responses?.['3xx'] },
            { key: '4xx', label: '4xx', num: true, value: e => e.responses?.['4xx'] },
            count('5xx', e => e.responses?.['5xx']),
            count('timeouts', e => e.timeouts),
            { key: 'connectFailures', label: 'connect failures', num: true, bad: true, value: e => sum(e.connectFailures), title: e => parts(e.connectFailures) },
            count('resets', e => e.resets),
            { key: 'retriedElsewhere', label: 'retried elsewhere', num: true, value: e => e.retriedElsewhere },
            { key: 'consecutiveFailures', label: 'consecutive failures', num: true, value: e => e.consecutiveFailures },
            { key: 'ejectionsTotal', label: 'ejections', num: true, value: e => e.ejectionsTotal,
              title: e => 'backoff count ' + e.ejections + (e.lastEjection ? '; last ' + time(e.lastEjection.at) + ': ' + e.lastEjection.reason : '') },
            { key: 'idleConnections', label: 'idle conns', num: true, value: e => e.idleConnections },
            { key: 'lastError', label: 'last error', cls: 'last-error',
              value: e => e.lastError ? e.lastError.kind + ': ' + e.lastError.message : null,
              title: e => e.lastError ? time(e.lastError.at) : null },
          ];

          const routeColumns = [
            { key: 'name', label: 'route', value: r => r.name ?? '(unnamed)' },
            { key: 'origin', label: 'origin', value: r => r.origin ? r.origin.Kind + ' ' + r.origin.Namespace + '/' + r.origin.Name + '@' + r.origin.ResourceVersion : 'config',
              title: r => r.origin?.Problem ?? null },
            { key: 'clusters', label: 'clusters', value: r => (r.clusters || []).map(c => c.name + ' (' + c.freshness + ', ' + c.usableEndpoints + ' usable)').join('; ') },
          ];

          const feedColumns = [
            { key: 'source', label: 'source', value: f => f.source },
            { key: 'name', label: 'feed', value: f => f.name },
            { key: 'synced', label: 'synced', value: f => String(f.synced) },
            { key: 'connected', label: 'connected', value: f => String(f.connected) },
            { key: 'secondsSinceLastHeard', label: 's since heard', num: true, value: f => f.secondsSinceLastHeard },
            { key: 'secondsSinceLastFullRead', label: 's since full read', num: true, value: f => f.secondsSinceLastFullRead },
            { key: 'objects', label: 'objects', num: true, value: f => f.objects },
            count('unreadable', f => f.unreadable),
            count('missed', f => f.missed),
            { key: 'lastError', label: 'last error', cls: 'last-error', value: f => f.lastError ?? null },
          ];

          const missing = v => v === null || v === undefined || v === '';

          // Missing values go last whichever the direction; numbers compare as numbers, text with digits as numbers.
          function compare(column, desc) {
            return (a, b) => {
              const x = column.value(a), y = column.value(b);
              if (missing(x) || missing(y)) return missing(x) === missing(y) ? 0 : missing(x) ? 1 : -1;
              const order = column.num ? Number(x) - Number(y) : collator.compare(String(x), String(y));
              return desc ? -order : order;
            };
          }

          function table(id, columns, rows, rowAttrs) {
            const sort = sorts.get(id);
            const sorted = rows.slice();
            const by = sort && columns.find(c => c.key === sort.key);
            if (by) sorted.sort(compare(by, sort.desc));
            const head = el('tr', null, ...columns.map(c => {
              const active = by === c;
              const th = el('th', {
                'data-col': c.key, class: c.num ? 'num' : null, scope: 'col',
                'aria-sort': active ? (sort.desc ? 'descending' : 'ascending') : null,
              }, el('button', { type: 'button' }, c.label), el('span', { class: 'sort-indicator' }, active ? (sort.desc ? '\u25BC' : '\u25B2') : ''));
              th.addEventListener('click', () => {
                const now = sorts.get(id);
                sorts.set(id, { key: c.key, desc: now?.key === c.key ? !now.desc : false });
                render();
              });
              return th;
            }));
            const body = el('tbody', null, ...sorted.map(row => el('tr', rowAttrs(row), ...columns.map(c => {
              const v = c.value(row);
              const cls = [c.num ? 'num' : null, c.cls ?? null, c.bad && Number(v) > 0 ? 'bad' : null].filter(Boolean).join(' ');
              return el('td', { 'data-col': c.key, class: cls || null, title: c.title ? c.title(row) : null }, missing(v) ? '' : c.show ? c.show(v) : v);
            }))));
            if (sorted.length === 0) body.append(el('tr', null, el('td', { colspan: columns.length, class: 'muted' }, 'none')));
            return el('div', { class: 'table-wrap' }, el('table', { id, 'data-table': id }, el('thead', null, head), body));
          }

          function fact(label, value, attrs) {
            return el('div', null, el('dt', null, label), el('dd', attrs, value));
          }

          function source(c) {
            const s = c.source || {};
            return s.kind === 'KubernetesService' ? 'Service ' + s.namespace + '/' + s.service + (s.port ? ':' + s.port : '') : s.kind ?? '';
          }

          function cluster(c) {
            const freshness = el('span', { class: 'freshness freshness-' + c.freshness, 'data-field': 'freshness' }, c.freshness);
            const facts = el('dl', { class: 'facts' },
              fact('algorithm', c.algorithm, { 'data-field': 'algorithm' }),
              fact('discovery', c.discovery),
              fact('source', source(c), { 'data-field': 'source' }),
              fact('freshness', freshness),
              fact('staleness', c.stalenessSeconds === undefined ? 'never confirmed' : c.stalenessSeconds + ' s'),
              fact('endpoint-set version', c.endpointSetVersion, { 'data-field': 'endpointSetVersion' }),
              fact('last changed', time(c.lastChanged)),
              fact('last confirmed', time(c.lastConfirmed)),
              fact('usable', c.usableEndpoints + ' / ' + c.totalEndpoints, { 'data-field': 'usable' }),
              fact('ejected', c.ejectedEndpoints),
              fact('panic', c.inPanic ? 'yes' : 'no'),
              fact('in flight', c.inFlightRequests),
              fact('open connections', c.openConnections),
              fact('hash key', c.hashKey ? c.hashKey.source + (c.hashKey.name ? ' ' + c.hashKey.name : '') : 'none', { 'data-field': 'hashKey' }),
              c.zone ? fact('zone', c.zone + (c.inZone ? ' (topology hints followed)' : ' (all zones)'), { 'data-field': 'zone' }) : null,
              c.sessionAffinity ? fact('session affinity', 'cookie ' + c.sessionAffinity.cookie + ' (' + c.sessionsMoved + ' moved)', { 'data-field': 'sessionAffinity' }) : null,
              c.fallback ? fact('fallback', c.fallback + ' (' + c.fallbackRequests + ' requests)') : null,
              fact('picker built', time(c.pickerBuilt)));
            const id = 'endpoints:' + c.name;
            return el('section', { class: 'cluster', 'data-cluster': c.name },
              el('h2', null, c.name),
              facts,
              table(id, endpointColumns, c.endpoints || [], e => ({ 'data-endpoint': endpoint(e), class: e.ejected ? 'ejected' : null })));
          }

          function render() {
            if (!last) return;
            const clusters = last.clusters || [];
            $('generated').textContent = 'generated ' + time(last.now);
            $('counts').textContent = clusters.length + ' clusters, ' + sum(clusters.map(c => (c.endpoints || []).length)) + ' endpoints';
            $('clusters').replaceChildren(...clusters.map(cluster));
            const routes = last.routes || [];
            $('routes-section').hidden = routes.length === 0;
            $('routes').replaceChildren(table('routes', routeColumns, routes, r => ({ 'data-route': r.name })));
            const feeds = (last.routeSources || []).flatMap(s => (s.feeds || []).map(f => Object.assign({ source: s.name + (s.published ? '' : ' (not published)') }, f)));
            $('sources-section').hidden = feeds.length === 0;
            $('sources').replaceChildren(table('feeds', feedColumns, feeds, f => ({ 'data-feed': f.name })));
            document.body.dataset.refreshes = String(refreshes);
          }

          function readiness(status, text) {
            const ready = status === 200;
            const badge = $('readiness');
            badge.className = 'readiness ' + (ready ? 'readiness-ready' : 'readiness-not-ready');
            badge.textContent = ready ? 'ready' : 'not ready (' + status + ')';
            $('readyz').textContent = text;
          }

          function error(message) {
            $('error').hidden = message === null;
            $('error').textContent = message ?? '';
          }

          async function refresh() {
            clearTimeout(timer);
            document.body.dataset.busy = 'yes';
            try {
              const url = only === null ? 'backends' : 'backends?cluster=' + encodeURIComponent(only);
              const [backends, ready] = await Promise.all([fetch(url, { cache: 'no-store' }), fetch('readyz', { cache: 'no-store' })]);
              if (!backends.ok) throw new Error('GET ' + url + ': ' + backends.status + ' ' + (await backends.text()).trim());
              last = await backends.json();
              readiness(ready.status, await ready.text());
              refreshes++;
              render();
              error(null);
            } catch (e) {
              error('Could not read the proxy: ' + (e && e.message ? e.message : e));
              document.body.dataset.failures = String(Number(document.body.dataset.failures || 0) + 1);
            } finally {
              delete document.body.dataset.busy;
              schedule();
            }
          }

          function schedule() {
            clearTimeout(timer);
            timer = $('auto').checked ? setTimeout(refresh, every * 1000) : 0;
            document.body.dataset.scheduled = timer ? 'yes' : 'no';
          }

          $('every').textContent = String(every);
          $('auto').addEventListener('change', () => { if (!document.body.dataset.busy) schedule(); });
          $('refresh').addEventListener('click', () => { if (!document.body.dataset.busy) refresh(); });
          refresh();
        })();

        """;
}
