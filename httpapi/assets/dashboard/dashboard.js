// Gridhub's web dashboard: a district's H3 cells drawn as SVG hexagons
// from the hub's own geometry (Cell.boundary, District.outline), coloured
// by one layer of the district's aggregates, kept live over graphql-ws.
//
// Who sees what follows the hub's policy (resolvers/policy.go): an ADMIN
// token picks any district, a DISTRICT token sees its own, a COMMITTEE
// token sees its committee's area, the pharmacies around it and its
// alerts (district aggregates are not a committee's to read). The hub
// enforces all of it; the page only avoids asking for what it would refuse.
'use strict';

(function () {
  const SVG = 'http' + '://www.w3.org/2000/svg';
  const TOKEN_KEY = 'gridhub.dashboard.token';
  const FEED_KEY = 'gridhub.dashboard.feed.';
  const FEED_MAX = 50;
  const POLL_MS = 30000;
  const BATCH = 40; // cells per boundary query (the hub allows 50 aliases)
  const M_PER_DEG = 111320;

  const endpoint = meta('gridhub-endpoint') || '/graphql';
  const liveProblem = meta('gridhub-live-problem');

  const FALLBACK_SUPPLIES = [
    { sku: 'MASK_ADULT', name: 'Adult masks' }, { sku: 'MASK_CHILD', name: 'Child masks' },
    { sku: 'MASK_N95', name: 'N95 masks' }, { sku: 'HAND_SANITIZER', name: 'Hand sanitizer' },
    { sku: 'TEST_KIT', name: 'Test kits' },
  ];

  // Layers: how a cell's aggregates become one of a few classes, each with
  // a colour and a legend line. Fixed bins keep colours comparable across
  // districts and over time.
  const NONE = '#eceff1';
  const LAYERS = {
    stock: {
      title: 'Stock on hand (units)',
      series: (p) => p.stock,
      bins: [
        { key: 'none', max: 0, colour: NONE, label: 'none' },
        { key: 's1', max: 50, colour: '#d4e9f7', label: '1–50' },
        { key: 's2', max: 200, colour: '#9ccbe8', label: '51–200' },
        { key: 's3', max: 500, colour: '#4f9fd0', label: '201–500' },
        { key: 's4', max: 1000, colour: '#1f6fb0', label: '501–1,000' },
        { key: 's5', max: Infinity, colour: '#0b3d78', label: 'over 1,000' },
      ],
      value: (s) => (s.stock || []).reduce((n, l) => n + l.quantity, 0),
    },
    demand: {
      title: 'Demand: open reservations and shortage registrations',
      series: (p) => p.demand,
      bins: [
        { key: 'none', max: 0, colour: NONE, label: 'none' },
        { key: 'd1', max: 5, colour: '#fde2c4', label: '1–5' },
        { key: 'd2', max: 20, colour: '#fdb97d', label: '6–20' },
        { key: 'd3', max: 50, colour: '#f5813c', label: '21–50' },
        { key: 'd4', max: 200, colour: '#d94e0f', label: '51–200' },
        { key: 'd5', max: Infinity, colour: '#8c2d04', label: 'over 200' },
      ],
      value: (s) => s.demand,
    },
    fulfilment: {
      title: 'Fulfilment: allocations over allocations and waiting demand',
      series: (p) => p.fulfilled,
      seriesLabel: 'allocations fulfilled',
      bins: [
        { key: 'none', colour: NONE, label: 'no requests' },
        { key: 'f0', max: 0.25, colour: '#d73027', label: 'under 25 %' },
        { key: 'f1', max: 0.5, colour: '#fc8d59', label: '25–50 %' },
        { key: 'f2', max: 0.75, colour: '#fee08b', label: '50–75 %' },
        { key: 'f3', max: 0.9999, colour: '#91cf60', label: '75–99 %' },
        { key: 'f4', max: Infinity, colour: '#1a9850', label: 'all served' },
      ],
      value: (s) => s.fulfilmentRate,
    },
    codes: {
      title: 'Health codes of residents',
      series: (p) => p.red + p.yellow,
      seriesLabel: 'red and yellow codes',
      bins: [
        { key: 'none', colour: NONE, label: 'no codes' },
        { key: 'green', colour: '#41ab5d', label: 'green only' },
        { key: 'yellow', colour: '#f2b705', label: 'yellow, no red' },
        { key: 'red', colour: '#cb181d', label: 'red' },
      ],
      classify: (s) => (s.red > 0 ? 'red' : s.yellow > 0 ? 'yellow' : s.green > 0 ? 'green' : 'none'),
    },
    risk: {
      title: 'Risk areas',
      series: (p) => p.riskCells,
      seriesLabel: 'cells under a risk area',
      bins: [
        { key: 'none', colour: NONE, label: 'none' },
        { key: 'LOW', colour: '#fddbc7', label: 'low' },
        { key: 'MEDIUM', colour: '#ef8a62', label: 'medium' },
        { key: 'HIGH', colour: '#b2182b', label: 'high' },
      ],
      classify: (s) => s.riskLevel || 'none',
    },
  };

  const STATS_FIELDS = `residents pharmacies stock { sku quantity } demand reservations shortages
    allocations fulfilled fulfilmentRate green yellow red riskLevel`;
  const CELL_STATS = `cell { id resolution boundary { lat lng } } ${STATS_FIELDS}`;

  // ----------------------------------------------------------------------
  // State. gen counts views: answers that arrive for an older view are
  // dropped.
  const S = {
    token: null,
    principal: null,
    supplies: FALLBACK_SUPPLIES,
    districts: [],
    view: null,
    gen: 0,
    layer: 'stock',
    sku: 'MASK_ADULT',
    resolution: 9,
    client: null,
    unsubscribe: [],
    pollTimer: 0,
    expiryTimer: 0,
    totalsTimer: 0,
    retryTimer: 0,
    pinned: null,
    catchups: 0,
    mapPolled: false,
  };

  const $ = (id) => document.getElementById(id);

  function meta(name) {
    const m = document.querySelector(`meta[name="${name}"]`);
    return m ? m.getAttribute('content') : '';
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  }

  const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
  const pct = (r) => (r === null || r === undefined ? '–' : `${Math.round(r * 100)} %`);
  const clock = (t) => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

  // ----------------------------------------------------------------------
  // Talking to the hub.

  class HubError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code || 'ERROR';
      this.status = status || 0;
    }
  }

  async function gql(query, variables) {
    let resp;
    try {
      resp = await fetch(endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${S.token}` },
        body: JSON.stringify({ query, variables: variables || {} }),
        cache: 'no-store',
      });
    } catch (e) {
      throw new HubError(`the hub cannot be reached (${e.message})`, 'NETWORK');
    }
    let body;
    try {
      body = await resp.json();
    } catch (e) {
      throw new HubError(`the hub answered ${resp.status} without a GraphQL result`, resp.status >= 500 ? 'NETWORK' : 'HTTP', resp.status);
    }
    if (body.errors && body.errors.length) {
      const first = body.errors[0];
      const code = (first.extensions && first.extensions.code) || (resp.status === 401 ? 'UNAUTHENTICATED' : 'ERROR');
      throw new HubError(first.message, code, resp.status);
    }
    return body.data;
  }

  // A token's claims, read without checking the signature (the hub checks
  // it): only to choose what to show and to warn before it expires.
  function readToken(token) {
    const parts = token.split('.');
    if (parts.length !== 3) throw new Error('a token has three dot-separated parts');
    let claims;
    try {
      const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)),
        (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
      claims = JSON.parse(json);
    } catch (e) {
      throw new Error('its payload is not readable');
    }
    if (!claims || typeof claims.role !== 'string') throw new Error('it carries no role');
    return { role: claims.role, scope: claims.scope || '', subject: claims.sub || '', exp: claims.exp ? claims.exp * 1000 : 0 };
  }

  // ----------------------------------------------------------------------
  // Screens and messages.

  function setState(s) { document.body.dataset.state = s; }

  function showLogin(message) {
    stopLive();
    S.gen++;
    S.view = null;
    $('app').hidden = true;
    $('login').hidden = false;
    $('signout').hidden = true;
    $('district-picker').hidden = true;
    $('who').textContent = '';
    $('place').textContent = '';
    clearNotice();
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    setState(message ? 'refused' : 'login');
    $('token').focus();
  }

  // refuse forgets the token and says why.
  function refuse(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    S.token = null;
    clearTimeout(S.expiryTimer);
    showLogin(message);
  }

  // Notices: one line per topic, so that one problem does not hide another.
  const notices = new Map();

  function notice(topic, message, kind) {
    notices.set(topic, { message, kind: kind || 'warn' });
    drawNotices();
  }

  // clearNotice forgets one topic's notice, or all of them.
  function clearNotice(topic) {
    if (topic === undefined) notices.clear();
    else notices.delete(topic);
    drawNotices();
  }

  function drawNotices() {
    const n = $('notice');
    const all = [...notices.values()];
    n.replaceChildren(...all.map((x) => el('p', { class: x.kind, text: x.message })));
    n.className = 'notice ' + (all.some((x) => x.kind === 'error') ? 'error' : 'warn');
    n.hidden = all.length === 0;
  }

  function mapMessage(message) {
    const m = $('map-message');
    m.textContent = message || '';
    m.hidden = !message;
  }

  function setLive(state, text) {
    document.body.dataset.live = state;
    const l = $('live');
    l.dataset.live = state;
    const connected = S.mapPolled ? 'alerts live · map every 30 s' : 'live';
    l.textContent = text || { connected, connecting: 'connecting…', reconnecting: 'reconnecting…', polling: 'refreshing every 30 s', off: 'offline' }[state] || state;
  }

  // handleError decides what an error means for the page: a refused token
  // sends the operator back to sign in; a hub that cannot be reached is
  // retried; anything else is shown and the page goes on.
  function handleError(e, what) {
    if (e.code === 'UNAUTHENTICATED') {
      refuse(`The hub refused the token: ${e.message}. Sign in with a valid token.`);
      return true;
    }
    if (e.code === 'NETWORK' || e.code === 'RATE_LIMITED') {
      notice(what, `${what}: ${e.message}. Retrying…`);
      return false;
    }
    notice(what, `${what}: ${e.message}`, 'error');
    return false;
  }

  // ----------------------------------------------------------------------
  // Signing in.

  function signIn(token) {
    token = (token || '').trim();
    if (!token) {
      showLogin('Paste an operator token.');
      return;
    }
    let p;
    try {
      p = readToken(token);
    } catch (e) {
      refuse(`This is not a Gridhub token: ${e.message}.`);
      return;
    }
    if (p.exp && p.exp <= Date.now()) {
      refuse(`This token expired at ${new Date(p.exp).toLocaleString('en-GB')}. Ask for a new one.`);
      return;
    }
    if (!['ADMIN', 'DISTRICT', 'COMMITTEE'].includes(p.role)) {
      refuse(`A ${p.role} token has no dashboard: use a DISTRICT, COMMITTEE or ADMIN token.`);
      return;
    }
    S.token = token;
    S.principal = p;
    sessionStorage.setItem(TOKEN_KEY, token);
    clearTimeout(S.expiryTimer);
    if (p.exp) {
      const ms = p.exp - Date.now();
      if (ms < 2 ** 31) S.expiryTimer = setTimeout(() => refuse('The token has expired. Sign in with a new one.'), ms);
    }
    $('login').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = false;
    $('who').textContent = p.role === 'ADMIN' ? `ADMIN ${p.subject}` : `${p.role} ${p.scope}`;
    start();
  }

  async function start() {
    const gen = ++S.gen;
    setState('loading');
    mapMessage('Loading…');
    const params = new URLSearchParams(location.search);
    try {
      const d = await gql('{ supplies { sku name } }');
      if (gen !== S.gen) return;
      if (d.supplies && d.supplies.length) S.supplies = d.supplies;
    } catch (e) {
      if (gen !== S.gen) return;
      if (e.code === 'NETWORK') return retryStart(gen, e);
      if (e.code === 'UNAUTHENTICATED') return handleError(e, 'Signing in');
    }
    fillSupplies();
    const p = S.principal;
    try {
      if (p.role === 'COMMITTEE') {
        await openCommittee(p.scope);
        return;
      }
      let district = p.scope;
      const committee = params.get('committee') || '';
      if (p.role === 'ADMIN') {
        const d = await gql('{ districts { id code name } }');
        if (gen !== S.gen) return;
        S.districts = d.districts || [];
        fillDistricts();
        district = params.get('district') || '';
      }
      let c = null;
      if (committee) {
        try {
          c = await committeeInfo(committee);
          if (gen !== S.gen) return;
          if (!c) notice('committee', `Committee ${committee} does not exist.`, 'error');
          else if (c.district) district = c.district.id;
        } catch (e) {
          if (e.code === 'UNAUTHENTICATED' || e.code === 'NETWORK') throw e;
          notice('committee', `This token may not follow committee ${committee}: ${e.message}`, 'error');
        }
      }
      if (p.role === 'ADMIN' && !district) district = S.districts.length ? S.districts[0].id : '';
      if (!district) {
        mapMessage('There is no district yet: create one with upsertDistrict.');
        setState('empty');
        return;
      }
      await openDistrict(district, c);
    } catch (e) {
      if (gen !== S.gen) return;
      if (e.code === 'NETWORK') return retryStart(gen, e);
      if (handleError(e, 'The dashboard cannot open')) return;
      mapMessage(`Nothing to show: ${e.message}`);
      setState('error');
    }
  }

  function retryStart(gen, e) {
    notice('hub', `The hub cannot be reached (${e.message}). Retrying in 5 s…`);
    mapMessage('Waiting for the hub…');
    setState('waiting');
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(() => { if (gen === S.gen) { clearNotice('hub'); start(); } }, 5000);
  }

  function fillSupplies() {
    const sel = $('sku');
    sel.replaceChildren(el('option', { value: '', text: 'all supplies' }),
      ...S.supplies.map((s) => el('option', { value: s.sku, text: s.name || s.sku })));
    sel.value = S.sku || '';
  }

  function fillDistricts() {
    const sel = $('district');
    sel.replaceChildren(...S.districts.map((d) => el('option', { value: d.id, text: `${d.name} (${d.code || d.id})` })));
    $('district-picker').hidden = false;
  }

  async function committeeInfo(id) {
    const d = await gql('query($id: ID!) { committee(id: $id) { id code name cells district { id name } } }', { id });
    return d.committee;
  }

  // ----------------------------------------------------------------------
  // The map: an equirectangular projection around the area's centre, in
  // metres, y pointing south; the SVG viewBox does the scaling.

  function projection(points) {
    let lat0 = 0;
    for (const p of points) lat0 += p.lat;
    lat0 /= Math.max(points.length, 1);
    const k = Math.cos((lat0 * Math.PI) / 180);
    return (p) => [p.lng * k * M_PER_DEG, -p.lat * M_PER_DEG];
  }

  function setViewBox(points) {
    const map = $('map');
    if (!points.length) return;
    S.view.project = projection(points);
    let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity;
    for (const p of points) {
      const [x, y] = S.view.project(p);
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
    const pad = Math.max(x1 - x0, y1 - y0) * 0.04 + 50;
    map.setAttribute('viewBox', `${x0 - pad} ${y0 - pad} ${x1 - x0 + 2 * pad} ${y1 - y0 + 2 * pad}`);
    map.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  }

  function pointsAttr(ring) {
    return ring.map((p) => S.view.project(p).map((v) => v.toFixed(1)).join(',')).join(' ');
  }

  function resetMap() {
    const map = $('map');
    map.replaceChildren();
    map.removeAttribute('viewBox');
    const layers = {};
    for (const name of ['cells', 'area', 'outline', 'pharmacies']) {
      layers[name] = svg('g', { 'data-group': name });
      map.append(layers[name]);
    }
    S.view.g = layers;
    S.view.cells = new Map();
    document.body.dataset.cells = '0';
  }

  // drawCells replaces the drawn cells with the given ones ({cell, ...stats}).
  function drawCells(list) {
    const v = S.view;
    v.g.cells.replaceChildren();
    v.cells = new Map();
    for (const s of list) addCell(s);
    document.body.dataset.cells = String(v.cells.size);
    recolour();
  }

  function addCell(s) {
    const v = S.view;
    const id = s.cell.id;
    const poly = svg('polygon', {
      points: pointsAttr(s.cell.boundary),
      class: 'cell',
      'data-cell': id,
      tabindex: '0',
    });
    const entry = { id, cell: s.cell, stats: s.hasStats === false ? null : s, el: poly };
    poly.addEventListener('pointerenter', () => { if (!S.pinned) showDetails(entry); });
    poly.addEventListener('pointerleave', () => { if (!S.pinned) showDetails(null); });
    poly.addEventListener('focus', () => showDetails(entry));
    poly.addEventListener('click', (ev) => {
      ev.stopPropagation();
      pin(S.pinned === id ? null : id);
    });
    v.g.cells.append(poly);
    v.cells.set(id, entry);
    return entry;
  }

  function pin(id) {
    const v = S.view;
    if (S.pinned && v.cells.get(S.pinned)) v.cells.get(S.pinned).el.classList.remove('pinned');
    S.pinned = id;
    const e = id && v.cells.get(id);
    if (e) {
      e.el.classList.add('pinned');
      e.el.parentNode.append(e.el); // draw its border on top
    }
    showDetails(e || null);
  }

  // outlinePath draws closed loops of points as one path.
  function outlinePath(loops) {
    return loops.filter((l) => l.length > 1)
      .map((l) => 'M' + l.map((p) => S.view.project(p).map((v) => v.toFixed(1)).join(',')).join('L') + 'Z')
      .join('');
  }

  // areaEdges returns the edges of a set of cells that no two of them
  // share: the area's border, as separate segments.
  function areaEdges(cells) {
    const key = (p) => `${p.lat.toFixed(7)},${p.lng.toFixed(7)}`;
    const edges = new Map();
    for (const c of cells) {
      const b = c.boundary;
      for (let i = 0; i < b.length; i++) {
        const a = b[i]; const z = b[(i + 1) % b.length];
        const ka = key(a); const kz = key(z);
        const k = ka < kz ? `${ka}|${kz}` : `${kz}|${ka}`;
        if (edges.has(k)) edges.delete(k);
        else edges.set(k, [a, z]);
      }
    }
    return [...edges.values()];
  }

  function drawArea(cells, cls) {
    const v = S.view;
    const d = areaEdges(cells).map(([a, z]) => {
      const [x0, y0] = v.project(a); const [x1, y1] = v.project(z);
      return `M${x0.toFixed(1)},${y0.toFixed(1)}L${x1.toFixed(1)},${y1.toFixed(1)}`;
    }).join('');
    v.g.area.replaceChildren(svg('path', { d, class: cls }));
  }

  // boundaries fetches cells' boundaries in batches of aliased cell(id)
  // queries (the hub answers cell geometry to anyone).
  async function boundaries(ids) {
    const out = [];
    for (let i = 0; i < ids.length; i += BATCH) {
      const part = ids.slice(i, i + BATCH);
      const q = '{ ' + part.map((id, j) => `c${j}: cell(id: ${JSON.stringify(id)}) { id resolution boundary { lat lng } }`).join(' ') + ' }';
      const d = await gql(q);
      part.forEach((_, j) => out.push(d[`c${j}`]));
    }
    return out;
  }

  // ----------------------------------------------------------------------
  // A district.

  async function openDistrict(id, committee) {
    const gen = ++S.gen;
    stopLive();
    S.pinned = null;
    S.view = { kind: 'district', districtId: id, committee, aggregates: false };
    resetMap();
    showDetails(null);
    $('totals-panel').hidden = false;
    $('resolution').disabled = false;
    for (const input of document.querySelectorAll('#layers input')) input.disabled = false;
    if (S.principal.role === 'ADMIN') $('district').value = id;
    rememberInURL();
    setState('loading');
    mapMessage('Loading the district…');

    const base = await gql(`query($id: ID!) { district(id: $id) { id code name cellCount pharmacies { id name location { lat lng } } } }`, { id });
    if (gen !== S.gen) return;
    if (!base.district) throw new HubError(`district ${id} does not exist`, 'NOT_FOUND');
    const d = base.district;
    S.view.district = d;
    $('place').textContent = `${d.name} (${d.code || d.id})` + (committee ? ` · ${committee.name} (${committee.code})` : '');
    document.title = `${d.name} · Gridhub dashboard`;

    let outline = [];
    try {
      const o = await gql('query($id: ID!) { district(id: $id) { outline { lat lng } } }', { id });
      outline = (o.district && o.district.outline) || [];
    } catch (e) {
      if (e.code === 'UNAUTHENTICATED' || e.code === 'NETWORK') throw e;
      notice('outline', `The district's outline is unavailable: ${e.message}`);
    }
    if (gen !== S.gen) return;
    S.view.outline = outline;

    let committeeCells = [];
    if (committee && committee.cells && committee.cells.length) {
      committeeCells = await boundaries(committee.cells);
      if (gen !== S.gen) return;
    }
    S.view.committeeCells = committeeCells;

    await loadAggregates(gen, true);
    if (gen !== S.gen) return;
    if (committee) openFeed(committee);
    startLive(gen);
  }

  // loadAggregates (re)draws the cells at the chosen resolution with their
  // aggregates, and the totals and the hourly series beside them.
  async function loadAggregates(gen, first) {
    const v = S.view;
    const vars = { id: v.districtId, res: S.resolution, sku: S.sku || null };
    let list = null;
    let totals = null;
    try {
      const d = await gql(`query($id: ID!, $res: Int!, $sku: SKU) { district(id: $id) {
          cellStats(resolution: $res, sku: $sku) { ${CELL_STATS} }
          totals(sku: $sku) { ${STATS_FIELDS} } } }`, vars);
      list = d.district.cellStats;
      totals = d.district.totals;
      v.aggregates = true;
    } catch (e) {
      if (e.code === 'UNAUTHENTICATED' || e.code === 'NETWORK') throw e;
      if (gen !== S.gen) return;
      v.aggregates = false;
      notice('aggregates', `The district's aggregates are unavailable (${e.message}): its cells are drawn without figures.`, 'error');
      const c = await gql('query($id: ID!, $res: Int!) { district(id: $id) { cells(resolution: $res) } }', vars);
      if (gen !== S.gen) return;
      list = (await boundaries(c.district.cells)).map((cell) => ({ cell, hasStats: false }));
    }
    if (gen !== S.gen) return;
    if (first || !v.project) {
      const pts = [];
      for (const loop of v.outline) pts.push(...loop);
      if (!pts.length) for (const s of list) pts.push(...s.cell.boundary);
      setViewBox(pts);
    }
    if (v.aggregates) clearNotice('aggregates');
    drawCells(list);
    v.g.outline.replaceChildren(svg('path', { d: outlinePath(v.outline), class: 'outline' }));
    if (v.committeeCells && v.committeeCells.length) drawArea(v.committeeCells, 'committee');
    drawPharmacies(v.district.pharmacies || []);
    showTotals(totals);
    if (S.pinned) pin(v.cells.has(S.pinned) ? S.pinned : null);
    mapMessage(list.length ? '' : 'This district has no cells at this resolution.');
    setState('ready');
    loadSeries(gen);
  }

  function drawPharmacies(list) {
    const v = S.view;
    v.g.pharmacies.replaceChildren();
    const r = Math.max(12, viewSize() / 220);
    for (const p of list) {
      const [x, y] = v.project(p.location);
      const c = svg('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(1), class: 'pharmacy' });
      const t = svg('title', {});
      t.textContent = p.name;
      c.append(t);
      v.g.pharmacies.append(c);
    }
  }

  function viewSize() {
    const vb = $('map').getAttribute('viewBox');
    if (!vb) return 1000;
    const [, , w, h] = vb.split(' ').map(Number);
    return Math.max(w, h);
  }

  async function loadSeries(gen) {
    const v = S.view;
    if (!v || v.kind !== 'district') return;
    try {
      const d = await gql('query($id: ID!, $sku: SKU) { district(id: $id) { series(hours: 72, sku: $sku) { at stock demand allocations fulfilled green yellow red riskCells } } }',
        { id: v.districtId, sku: S.sku || null });
      if (gen !== S.gen) return;
      v.series = d.district.series || [];
    } catch (e) {
      v.series = [];
    }
    drawSpark();
  }

  async function refreshTotals() {
    const v = S.view;
    if (!v || v.kind !== 'district' || !v.aggregates) return;
    const gen = S.gen;
    try {
      const d = await gql(`query($id: ID!, $sku: SKU) { district(id: $id) { totals(sku: $sku) { ${STATS_FIELDS} } } }`, { id: v.districtId, sku: S.sku || null });
      if (gen !== S.gen) return;
      showTotals(d.district.totals);
      loadSeries(gen);
    } catch (e) {
      if (e.code === 'UNAUTHENTICATED') handleError(e, 'Totals');
    }
  }

  // catchUp refetches what may have changed while the live connection was
  // down.
  async function catchUp() {
    const v = S.view;
    if (!v) return;
    const gen = S.gen;
    try {
      if (v.kind === 'district') await loadAggregates(gen, false);
      else await loadCommitteeStock(gen);
      if (gen !== S.gen) return;
      S.catchups++;
      document.body.dataset.catchups = String(S.catchups);
    } catch (e) {
      if (gen !== S.gen) return;
      handleError(e, 'Catching up');
      if (e.code === 'NETWORK' || e.code === 'RATE_LIMITED') {
        clearTimeout(S.retryTimer);
        S.retryTimer = setTimeout(() => { if (gen === S.gen) catchUp(); }, 3000);
      }
    }
  }

  // ----------------------------------------------------------------------
  // A committee's own view (a COMMITTEE token): its area, the pharmacies
  // around it with their stock, and its alerts.

  async function openCommittee(id) {
    const gen = ++S.gen;
    stopLive();
    S.pinned = null;
    const c = await committeeInfo(id);
    if (gen !== S.gen) return;
    if (!c) throw new HubError(`committee ${id} does not exist`, 'NOT_FOUND');
    S.view = { kind: 'committee', committee: c, pharmacies: new Map() };
    resetMap();
    showDetails(null);
    $('place').textContent = `${c.name} (${c.code})` + (c.district ? ` · ${c.district.name}` : '');
    document.title = `${c.name} · Gridhub dashboard`;
    $('totals-panel').hidden = true;
    $('resolution').value = '9';
    $('resolution').disabled = true;
    for (const input of document.querySelectorAll('#layers input')) {
      input.disabled = !['stock', 'risk'].includes(input.value);
      input.parentNode.title = input.disabled ? 'District aggregates need a DISTRICT or ADMIN token' : '';
    }
    if (!['stock', 'risk'].includes(S.layer)) S.layer = 'stock';
    syncControls();
    rememberInURL();
    setState('loading');
    mapMessage('Loading the committee\'s area…');
    const cells = await boundaries(c.cells || []);
    if (gen !== S.gen) return;
    S.view.areaCells = cells;
    setViewBox(cells.flatMap((x) => x.boundary));
    drawArea(cells, 'committee');
    await loadCommitteeStock(gen);
    if (gen !== S.gen) return;
    openFeed(c);
    startLive(gen);
  }

  // loadCommitteeStock draws the committee's cells and, over them, the
  // cells of the pharmacies within reach with their stock.
  async function loadCommitteeStock(gen) {
    const v = S.view;
    const cells = v.areaCells || [];
    let lat = 0; let lng = 0; let n = 0;
    for (const c of cells) for (const p of c.boundary) { lat += p.lat; lng += p.lng; n++; }
    let near = [];
    if (n) {
      const d = await gql(`query($lat: Float!, $lng: Float!, $k: Int!) { pharmaciesNear(lat: $lat, lng: $lng, k: $k) {
          ring pharmacy { id name address cell { id resolution boundary { lat lng } } stock { sku quantity } } } }`,
      { lat: lat / n, lng: lng / n, k: Math.min(10, 3 + Math.ceil(Math.sqrt(cells.length))) });
      if (gen !== S.gen) return;
      near = d.pharmaciesNear || [];
    }
    const byCell = new Map();
    for (const c of cells) byCell.set(c.id, { cell: c, area: true, pharmacies: [], stock: [], riskLevel: riskOf(c.id) });
    v.pharmacies = new Map();
    for (const m of near) {
      const ph = m.pharmacy;
      v.pharmacies.set(ph.id, ph);
      let e = byCell.get(ph.cell.id);
      if (!e) { e = { cell: ph.cell, area: false, pharmacies: [], stock: [], riskLevel: riskOf(ph.cell.id) }; byCell.set(ph.cell.id, e); }
      e.pharmacies.push(ph);
    }
    for (const e of byCell.values()) e.stock = committeeStock(e.pharmacies);
    drawCells([...byCell.values()]);
    const pts = [];
    for (const e of byCell.values()) pts.push(...e.cell.boundary);
    setViewBox(pts);
    for (const e of v.cells.values()) e.el.setAttribute('points', pointsAttr(e.cell.boundary));
    drawArea(cells, 'committee');
    mapMessage(cells.length ? '' : 'This committee has no cells.');
    setState('ready');
  }

  function riskOf(cell) {
    const v = S.view;
    return (v && v.risk && v.risk.get(cell)) || null;
  }

  function committeeStock(pharmacies) {
    const by = new Map();
    for (const ph of pharmacies) {
      for (const l of ph.stock) {
        if (S.sku && l.sku !== S.sku) continue;
        by.set(l.sku, (by.get(l.sku) || 0) + l.quantity);
      }
    }
    return [...by].map(([sku, quantity]) => ({ sku, quantity }));
  }

  // ----------------------------------------------------------------------
  // Colours, legend, details.

  function classify(layer, stats) {
    if (!stats) return 'none';
    const L = LAYERS[layer];
    if (L.classify) return L.classify(stats);
    const value = L.value(stats);
    if (value === null || value === undefined) return 'none';
    for (const b of L.bins) {
      if (b.max !== undefined && value <= b.max) return b.key;
    }
    return L.bins[L.bins.length - 1].key;
  }

  function colourOf(layer, key) {
    const b = LAYERS[layer].bins.find((x) => x.key === key);
    return b ? b.colour : NONE;
  }

  function paint(entry) {
    const key = entry.stats ? classify(S.layer, entry.stats) : 'nodata';
    entry.el.setAttribute('fill', key === 'nodata' ? '#f7f7f7' : colourOf(S.layer, key));
    entry.el.dataset.bin = key;
    entry.el.classList.toggle('area-cell', S.view.kind === 'committee' && !!(entry.stats && entry.stats.area));
    return key;
  }

  function recolour() {
    const v = S.view;
    if (!v || !v.cells) return;
    const counts = new Map();
    for (const e of v.cells.values()) {
      const k = paint(e);
      counts.set(k, (counts.get(k) || 0) + 1);
    }
    drawLegend(counts);
    $('map').dataset.layer = S.layer;
    // Pharmacies as dots on the stock layer, at resolution 9 only: H3's
    // coarser cells do not contain their children exactly, so a dot could
    // sit in a neighbour of the cell that counts its stock.
    if (v.g) v.g.pharmacies.style.display = S.layer === 'stock' && (v.kind !== 'district' || S.resolution === 9) ? '' : 'none';
    drawSpark();
  }

  function drawLegend(counts) {
    const L = LAYERS[S.layer];
    const sku = S.sku ? (S.supplies.find((s) => s.sku === S.sku) || { name: S.sku }).name : 'all supplies';
    let title = L.title;
    if (S.layer !== 'codes' && S.layer !== 'risk') title += ` · ${sku}`;
    if (S.view && S.view.kind === 'committee' && S.layer === 'stock') title = `Stock at pharmacies within reach · ${sku}`;
    if (S.view && S.view.kind === 'committee' && S.layer === 'risk') title = 'Risk areas alerted since this page opened';
    $('legend-title').textContent = title;
    const items = L.bins.map((b) => el('li', { 'data-bin': b.key },
      el('span', { class: 'swatch', 'data-colour': b.colour }), `${b.label}`,
      el('span', { class: 'count', text: counts ? fmt(counts.get(b.key) || 0) : '' })));
    if (counts && counts.get('nodata')) {
      items.push(el('li', { 'data-bin': 'nodata' }, el('span', { class: 'swatch', 'data-colour': '#f7f7f7' }), 'no figures', el('span', { class: 'count', text: fmt(counts.get('nodata')) })));
    }
    $('legend').replaceChildren(...items);
    // Swatch colours go through the CSS object model (the page's
    // Content-Security-Policy forbids inline style attributes).
    for (const s of $('legend').querySelectorAll('.swatch')) s.style.background = s.dataset.colour;
  }

  function row(label, value) {
    return [el('dt', { text: label }), el('dd', { text: value })];
  }

  function statsRows(s) {
    const rows = [];
    if (s.residents !== undefined) rows.push(...row('Residents', fmt(s.residents)));
    if (s.pharmacies !== undefined && typeof s.pharmacies === 'number') rows.push(...row('Pharmacies', fmt(s.pharmacies)));
    const stock = (s.stock || []).filter((l) => l.quantity > 0 || S.sku);
    rows.push(...row('Stock', stock.length ? stock.map((l) => `${skuName(l.sku)} ${fmt(l.quantity)}`).join(', ') : 'none'));
    if (s.demand !== undefined) {
      rows.push(...row('Demand', `${fmt(s.demand)} (${fmt(s.reservations)} reservations, ${fmt(s.shortages)} shortages)`));
      rows.push(...row('Allocations', `${fmt(s.allocations)} (${fmt(s.fulfilled)} fulfilled)`));
      rows.push(...row('Fulfilment', pct(s.fulfilmentRate)));
      rows.push(...row('Codes', `${fmt(s.green)} green, ${fmt(s.yellow)} yellow, ${fmt(s.red)} red`));
    }
    rows.push(...row('Risk', s.riskLevel ? s.riskLevel.toLowerCase() : 'none'));
    return rows;
  }

  function skuName(sku) {
    const s = S.supplies.find((x) => x.sku === sku);
    return s ? s.name : sku;
  }

  function showDetails(entry) {
    const box = $('details');
    if (!entry) {
      box.replaceChildren(el('p', { class: 'hint', text: 'No cell selected.' }));
      box.dataset.cell = '';
      return;
    }
    box.dataset.cell = entry.id;
    const head = el('p', { class: 'cellid' }, el('code', { text: entry.id }), ` resolution ${entry.cell.resolution}`);
    if (!entry.stats) {
      box.replaceChildren(head, el('p', { class: 'hint', text: 'No figures for this cell.' }));
      return;
    }
    const s = entry.stats;
    const parts = [head];
    if (S.view.kind === 'committee') {
      parts.push(el('p', { text: s.area ? 'In the committee\'s area.' : 'Outside the committee\'s area.' }));
      const names = s.pharmacies.map((p) => `${p.name}: ${p.stock.filter((l) => !S.sku || l.sku === S.sku).map((l) => `${skuName(l.sku)} ${fmt(l.quantity)}`).join(', ')}`);
      parts.push(el('dl', {}, ...row('Pharmacies', names.length ? names.join('; ') : 'none'), ...row('Risk', s.riskLevel ? s.riskLevel.toLowerCase() : 'none')));
    } else {
      parts.push(el('dl', {}, ...statsRows(s)));
    }
    box.replaceChildren(...parts);
  }

  function showTotals(t) {
    const box = $('totals');
    if (!t) {
      box.replaceChildren(el('p', { class: 'hint', text: 'No totals.' }));
      return;
    }
    box.replaceChildren(el('dl', {}, ...statsRows(t)));
  }

  function drawSpark() {
    const box = $('spark');
    const label = $('spark-label');
    const v = S.view;
    box.replaceChildren();
    box.classList.toggle('empty', !v || v.kind !== 'district' || !v.series || v.series.length < 2);
    if (box.classList.contains('empty')) {
      label.textContent = '';
      return;
    }
    const L = LAYERS[S.layer];
    const ys = v.series.map(L.series);
    const max = Math.max(1, ...ys);
    const pts = ys.map((y, i) => `${((i / (ys.length - 1)) * 300).toFixed(1)},${(46 - (y / max) * 44).toFixed(1)}`).join(' ');
    box.append(svg('polyline', { points: pts, class: 'sparkline' }));
    label.textContent = `Last ${ys.length} hours, ${L.seriesLabel || L.title.toLowerCase()}: now ${fmt(ys[ys.length - 1])}, peak ${fmt(Math.max(...ys))}`;
  }

  // ----------------------------------------------------------------------
  // Live: graphql-ws in the page. It reconnects by itself (with backoff)
  // when the hub goes away; once back, the page refetches what it may have
  // missed.

  function startLive(gen) {
    stopLive();
    const v = S.view;
    if (!window.graphqlWs) {
      notice('live', `Live updates are off${liveProblem ? ': ' + liveProblem : ''}. The map refreshes every 30 s.`);
      setLive('polling');
      S.pollTimer = setInterval(() => { if (gen === S.gen) catchUp(); }, POLL_MS);
      return;
    }
    const url = new URL(endpoint, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let refused = false;
    const client = window.graphqlWs.createClient({
      url: url.href,
      lazy: false,
      keepAlive: 10000,
      retryAttempts: Infinity,
      connectionParams: () => ({ Authorization: `Bearer ${S.token}` }),
      shouldRetry: (e) => !(e && e.code === 4403),
      retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(500 * 2 ** n, 8000) + Math.random() * 500)),
      onNonLazyError: (e) => {
        if (gen !== S.gen) return;
        if (e && e.code === 4403) return; // handled in closed
        setLive('off', 'live updates stopped');
      },
      on: {
        connecting: (isRetry) => { if (gen === S.gen) setLive(isRetry ? 'reconnecting' : 'connecting'); },
        connected: (_socket, _payload, wasRetry) => {
          if (gen !== S.gen) return;
          setLive('connected');
          if (wasRetry) {
            clearNotice('Catching up');
            catchUp();
          }
        },
        closed: (ev) => {
          if (gen !== S.gen || refused) return;
          if (ev && ev.code === 4403) {
            refused = true;
            refuse(`The hub refused the token: ${ev.reason || 'forbidden'}. Sign in with a valid token.`);
            return;
          }
          setLive('reconnecting');
        },
      },
    });
    S.client = client;
    const sub = (query, variables, next, what) => {
      const stop = client.subscribe({ query, variables }, {
        next: (r) => {
          if (gen !== S.gen) return;
          if (r.errors && r.errors.length) {
            subscriptionFailed(what, r.errors[0]);
            return;
          }
          if (r.data) next(r.data);
        },
        error: (e) => {
          if (gen !== S.gen) return;
          if (Array.isArray(e)) subscriptionFailed(what, e[0]);
          else if (e && e.message) subscriptionFailed(what, e);
        },
        complete: () => {},
      });
      S.unsubscribe.push(stop);
    };
    if (v.kind === 'district') {
      sub(`subscription($id: ID!, $res: Int!, $sku: SKU) { districtUpdates(districtId: $id, resolution: $res, sku: $sku) { ${CELL_STATS} } }`,
        { id: v.districtId, res: S.resolution, sku: S.sku || null }, (d) => cellUpdate(d.districtUpdates), 'Live map');
    }
    const c = v.committee;
    if (c) {
      sub(`subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring waitingServed gap
          pharmacy { id name address cell { id resolution boundary { lat lng } } stock { sku quantity } } } }`,
      { c: c.id }, (d) => restockAlert(d.restockAlerts), 'Restock alerts');
      sub('subscription($c: ID!) { riskAlerts(committeeId: $c) { seq at kind cell checkpointId temperature rings reason gap } }',
        { c: c.id }, (d) => riskAlert(d.riskAlerts), 'Risk alerts');
    }
  }

  function subscriptionFailed(what, err) {
    const code = err.extensions && err.extensions.code;
    if (code === 'UNAUTHENTICATED') {
      refuse(`The hub refused the token: ${err.message}. Sign in with a valid token.`);
      return;
    }
    // The map follows districtUpdates, or a committee's restock alerts;
    // without them it is refreshed instead.
    const drivesMap = what === 'Live map' || (S.view && S.view.kind === 'committee' && what === 'Restock alerts');
    notice(what, `${what} unavailable: ${err.message}.` + (drivesMap ? ' The map refreshes every 30 s.' : ''), 'error');
    if (!drivesMap) return;
    S.mapPolled = true;
    if (document.body.dataset.live === 'connected') setLive('connected');
    if (!S.pollTimer) {
      const gen = S.gen;
      S.pollTimer = setInterval(() => { if (gen === S.gen) catchUp(); }, POLL_MS);
    }
  }

  function stopLive() {
    for (const stop of S.unsubscribe) {
      try { stop(); } catch (e) { /* already gone */ }
    }
    S.unsubscribe = [];
    if (S.client) {
      const c = S.client;
      S.client = null;
      c.dispose();
    }
    clearInterval(S.pollTimer);
    clearTimeout(S.retryTimer);
    S.pollTimer = 0;
    S.mapPolled = false;
    setLive('off');
  }

  function cellUpdate(s) {
    const v = S.view;
    if (!v || v.kind !== 'district' || !s || !s.cell || s.cell.resolution !== S.resolution) return;
    let e = v.cells.get(s.cell.id);
    if (!e) {
      e = addCell(s);
      document.body.dataset.cells = String(v.cells.size);
    }
    e.stats = s;
    e.cell = s.cell;
    paint(e);
    e.el.classList.remove('flash');
    void e.el.getBoundingClientRect();
    e.el.classList.add('flash');
    if (S.pinned === e.id || $('details').dataset.cell === e.id) showDetails(e);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    clearTimeout(S.totalsTimer);
    S.totalsTimer = setTimeout(() => {
      refreshTotals();
      const counts = new Map();
      for (const x of v.cells.values()) counts.set(x.el.dataset.bin, (counts.get(x.el.dataset.bin) || 0) + 1);
      drawLegend(counts);
    }, 800);
  }

  // ----------------------------------------------------------------------
  // The committee's feed: the latest alerts, newest first, kept for the
  // tab's session.

  function openFeed(c) {
    const v = S.view;
    v.feedKey = FEED_KEY + c.id;
    $('feed').hidden = false;
    $('feed-name').textContent = `${c.name} (${c.code})`;
    let items = [];
    try { items = JSON.parse(sessionStorage.getItem(v.feedKey) || '[]'); } catch (e) { items = []; }
    v.feed = Array.isArray(items) ? items.slice(0, FEED_MAX) : [];
    drawFeed();
  }

  function pushFeed(item) {
    const v = S.view;
    if (!v || !v.feed) return;
    v.feed.unshift(item);
    v.feed.length = Math.min(v.feed.length, FEED_MAX);
    sessionStorage.setItem(v.feedKey, JSON.stringify(v.feed));
    drawFeed();
  }

  function drawFeed() {
    const list = $('feed-list');
    const v = S.view;
    if (!v.feed.length) {
      list.replaceChildren(el('li', { class: 'hint', text: 'No alerts yet: restocks and risks around the committee appear here as they happen.' }));
      return;
    }
    list.replaceChildren(...v.feed.map((f) => el('li', { class: `alert ${f.kind}`, 'data-kind': f.kind },
      el('time', { text: clock(f.at) }), ' ', el('b', { text: f.title }), ' ', f.text,
      f.gap ? el('span', { class: 'gap', text: ` (${f.gap} earlier alerts dropped)` }) : null)));
  }

  function restockAlert(a) {
    pushFeed({
      kind: 'restock',
      at: a.at,
      title: `Restock: ${a.pharmacy.name}`,
      text: `+${fmt(a.quantity)} ${skuName(a.sku)}, ${fmt(a.stockAfter)} on hand, ${a.ring === 0 ? 'in the area' : `${a.ring} ring${a.ring === 1 ? '' : 's'} away`}` +
        (a.waitingServed ? `; ${fmt(a.waitingServed)} waiting served` : ''),
      gap: a.gap,
    });
    const v = S.view;
    if (v.kind !== 'committee') return; // a district map follows districtUpdates
    const ph = v.pharmacies.get(a.pharmacy.id) || a.pharmacy;
    ph.stock = a.pharmacy.stock;
    v.pharmacies.set(ph.id, ph);
    let e = v.cells.get(ph.cell.id);
    if (!e) {
      e = addCell({ cell: ph.cell, area: false, pharmacies: [ph], stock: [] });
      document.body.dataset.cells = String(v.cells.size);
    } else if (!e.stats.pharmacies.find((p) => p.id === ph.id)) {
      e.stats.pharmacies.push(ph);
    } else {
      e.stats.pharmacies = e.stats.pharmacies.map((p) => (p.id === ph.id ? ph : p));
    }
    e.stats.stock = committeeStock(e.stats.pharmacies);
    paint(e);
    e.el.classList.add('flash');
    if ($('details').dataset.cell === e.id) showDetails(e);
  }

  function riskAlert(a) {
    const text = {
      FEVER_SCAN: `${a.temperature ? a.temperature.toFixed(1) + ' °C' : 'fever'} at checkpoint ${a.checkpointId || ''}`,
      RISK_AREA_MARKED: `cell ${a.cell || ''}${a.rings ? `, ${a.rings} rings around` : ''}`,
      RISK_AREA_LIFTED: `cell ${a.cell || ''}`,
    }[a.kind] || (a.cell || '');
    pushFeed({
      kind: 'risk',
      at: a.at,
      title: { FEVER_SCAN: 'Fever scan', RISK_AREA_MARKED: 'Risk area marked', RISK_AREA_LIFTED: 'Risk area lifted' }[a.kind] || a.kind,
      text: text + (a.reason ? ` (${a.reason})` : ''),
      gap: a.gap,
    });
    const v = S.view;
    if (v.kind === 'committee' && a.cell) {
      v.risk = v.risk || new Map();
      if (a.kind === 'RISK_AREA_MARKED') v.risk.set(a.cell, 'HIGH');
      if (a.kind === 'RISK_AREA_LIFTED') v.risk.delete(a.cell);
      const e = v.cells.get(a.cell);
      if (e) { e.stats.riskLevel = riskOf(a.cell); paint(e); }
    } else if (v.kind === 'district' && a.kind !== 'FEVER_SCAN') {
      // The district's risk layer arrives through districtUpdates; a
      // refetch covers a hub that does not send those for risk areas.
      clearTimeout(S.totalsTimer);
      S.totalsTimer = setTimeout(refreshTotals, 800);
    }
  }

  // ----------------------------------------------------------------------
  // Controls and the address bar (which keeps the view, never the token).

  function syncControls() {
    for (const input of document.querySelectorAll('#layers input')) input.checked = input.value === S.layer;
    $('resolution').value = String(S.resolution);
    $('sku').value = S.sku || '';
  }

  function rememberInURL() {
    const params = new URLSearchParams(location.search);
    params.delete('token');
    const v = S.view;
    if (v && v.kind === 'district' && S.principal.role === 'ADMIN') params.set('district', v.districtId);
    params.set('layer', S.layer);
    if (S.sku) params.set('sku', S.sku); else params.delete('sku');
    params.set('resolution', String(S.resolution));
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }

  function reloadView() {
    const v = S.view;
    if (!v) return;
    rememberInURL();
    if (v.kind === 'district') {
      const gen = ++S.gen;
      stopLive();
      loadAggregates(gen, false).then(() => { if (gen === S.gen) startLive(gen); })
        .catch((e) => { if (gen === S.gen && !handleError(e, 'Reloading the map')) startLive(gen); });
    } else {
      loadCommitteeStock(S.gen).catch((e) => handleError(e, 'Reloading the map'));
    }
  }

  function bind() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      signIn($('token').value);
      $('token').value = '';
    });
    $('signout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      S.token = null;
      clearTimeout(S.expiryTimer);
      showLogin('');
    });
    for (const input of document.querySelectorAll('#layers input')) {
      input.addEventListener('change', () => {
        if (!input.checked) return;
        S.layer = input.value;
        rememberInURL();
        recolour();
        const e = S.view && S.pinned && S.view.cells.get(S.pinned);
        if (e) showDetails(e);
      });
    }
    $('sku').addEventListener('change', () => { S.sku = $('sku').value; reloadView(); });
    $('resolution').addEventListener('change', () => {
      S.resolution = Number($('resolution').value);
      S.pinned = null;
      showDetails(null);
      reloadView();
    });
    $('district').addEventListener('change', () => {
      const id = $('district').value;
      const params = new URLSearchParams(location.search);
      params.delete('committee');
      history.replaceState(null, '', `${location.pathname}?${params}`);
      $('feed').hidden = true;
      clearNotice();
      openDistrict(id, null).catch((e) => { if (!handleError(e, 'The district cannot open')) mapMessage(e.message); });
    });
    $('map').addEventListener('click', () => pin(null));
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') pin(null); });
  }

  function init() {
    bind();
    const params = new URLSearchParams(location.search);
    if (LAYERS[params.get('layer')]) S.layer = params.get('layer');
    if (params.has('sku')) S.sku = params.get('sku');
    const res = Number(params.get('resolution'));
    if (res >= 5 && res <= 9) S.resolution = res;
    syncControls();
    drawLegend(null);
    let token = params.get('token');
    if (token !== null) {
      // Take the token from the address once, then keep it in this tab
      // only; the address bar and history do not keep it.
      params.delete('token');
      const q = params.toString();
      history.replaceState(null, '', location.pathname + (q ? `?${q}` : ''));
    } else {
      token = sessionStorage.getItem(TOKEN_KEY);
    }
    if (!token) {
      showLogin('');
      return;
    }
    signIn(token);
  }

  init();
}());
