// Gridhub's web dashboard: a district's H3 cells drawn as SVG hexagons
// from the hub's own geometry (Cell.boundary, District.outline), coloured
// by one layer of the district's aggregates, kept live over graphql-ws.
//
// Who sees what follows the hub's policy (resolvers/policy.go): an ADMIN
// token picks any district, a DISTRICT token sees its own, a COMMITTEE
// token sees its committee's area, the pharmacies around it and its
// alerts (district aggregates are not a committee's to read). The hub
// enforces all of it; the page only avoids asking for what it would refuse.
//
// Every word the page shows comes from i18n.js (window.gridhubI18n) through
// t(key, params); the language follows the browser unless the operator
// picks another one (remembered in localStorage). Messages of the hub
// (GraphQL errors) stay as the hub wrote them, after a translated label.
'use strict';

(function () {
  const SVG = 'http' + '://www.w3.org/2000/svg';
  const TOKEN_KEY = 'gridhub.dashboard.token';
  const LANG_KEY = 'gridhub.dashboard.lang';
  const FEED_KEY = 'gridhub.dashboard.feed.';
  const FEED_MAX = 50;
  const POLL_MS = 30000;
  const BATCH = 40; // cells per boundary query (the hub allows 50 aliases)
  const M_PER_DEG = 111320;

  const endpoint = meta('gridhub-endpoint') || '/graphql';
  const liveProblem = meta('gridhub-live-problem');

  // The supplies until the hub has said which it has; their names come
  // from the catalogues (skuName).
  const FALLBACK_SUPPLIES = ['MASK_ADULT', 'MASK_CHILD', 'MASK_N95', 'HAND_SANITIZER', 'TEST_KIT'].map((sku) => ({ sku }));

  // ----------------------------------------------------------------------
  // Words and formats.

  const I18N = window.gridhubI18n;
  let lang = chooseLanguage();
  let numFmt; let pctFmt; let timeFmt; let dateFmt;

  // chooseLanguage: the operator's last choice in this browser, else the
  // browser's languages.
  function chooseLanguage() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (e) { saved = null; }
    if (saved && I18N.catalogues[saved]) return saved;
    const list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ''];
    return I18N.pick(list);
  }

  // t returns the text of key in the page's language with {name}s filled
  // from params; a key no catalogue has shows as itself (the tests look
  // for those).
  function t(key, params) {
    let s = I18N.catalogues[lang][key];
    if (s === undefined) s = I18N.catalogues.en[key];
    if (s === undefined) return key;
    return s.replace(/\{(\w+)\}/g, (m, k) => (params && params[k] !== undefined && params[k] !== null ? String(params[k]) : m));
  }

  function setFormats() {
    numFmt = new Intl.NumberFormat(lang);
    pctFmt = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });
    timeFmt = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });
  }
  setFormats();

  // say turns a message into text: messages the page keeps (notices, the
  // map's message, the sign-in error) are functions, so that they follow a
  // change of language.
  const say = (m) => (typeof m === 'function' ? m() : m || '');

  // Layers: how a cell's aggregates become one of a few classes, each with
  // a colour and a legend line. Fixed bins keep colours comparable across
  // districts and over time.
  const NONE = '#eceff1';
  // Labels are functions: they are read in the page's current language.
  const range = (lo, hi) => () => t('bin.range', { lo: fmt(lo), hi: fmt(hi) });
  const over = (n) => () => t('bin.over', { n: fmt(n) });
  const pctRange = (lo, hi) => () => t('bin.range', { lo: pct(lo), hi: pct(hi) });
  const LAYERS = {
    stock: {
      title: () => t('layer.stock.title'),
      series: (p) => p.stock,
      bins: [
        { key: 'none', max: 0, colour: NONE, label: () => t('bin.none') },
        { key: 's1', max: 50, colour: '#d4e9f7', label: range(1, 50) },
        { key: 's2', max: 200, colour: '#9ccbe8', label: range(51, 200) },
        { key: 's3', max: 500, colour: '#4f9fd0', label: range(201, 500) },
        { key: 's4', max: 1000, colour: '#1f6fb0', label: range(501, 1000) },
        { key: 's5', max: Infinity, colour: '#0b3d78', label: over(1000) },
      ],
      value: (s) => (s.stock || []).reduce((n, l) => n + l.quantity, 0),
    },
    demand: {
      title: () => t('layer.demand.title'),
      series: (p) => p.demand,
      bins: [
        { key: 'none', max: 0, colour: NONE, label: () => t('bin.none') },
        { key: 'd1', max: 5, colour: '#fde2c4', label: range(1, 5) },
        { key: 'd2', max: 20, colour: '#fdb97d', label: range(6, 20) },
        { key: 'd3', max: 50, colour: '#f5813c', label: range(21, 50) },
        { key: 'd4', max: 200, colour: '#d94e0f', label: range(51, 200) },
        { key: 'd5', max: Infinity, colour: '#8c2d04', label: over(200) },
      ],
      value: (s) => s.demand,
    },
    fulfilment: {
      title: () => t('layer.fulfilment.title'),
      series: (p) => p.fulfilled,
      seriesLabel: () => t('layer.fulfilment.series'),
      bins: [
        { key: 'none', colour: NONE, label: () => t('bin.noRequests') },
        { key: 'f0', max: 0.25, colour: '#d73027', label: () => t('bin.under', { p: pct(0.25) }) },
        { key: 'f1', max: 0.5, colour: '#fc8d59', label: pctRange(0.25, 0.5) },
        { key: 'f2', max: 0.75, colour: '#fee08b', label: pctRange(0.5, 0.75) },
        { key: 'f3', max: 0.9999, colour: '#91cf60', label: pctRange(0.75, 0.99) },
        { key: 'f4', max: Infinity, colour: '#1a9850', label: () => t('bin.allServed') },
      ],
      value: (s) => s.fulfilmentRate,
    },
    codes: {
      title: () => t('layer.codes.title'),
      series: (p) => p.red + p.yellow,
      seriesLabel: () => t('layer.codes.series'),
      bins: [
        { key: 'none', colour: NONE, label: () => t('bin.noCodes') },
        { key: 'green', colour: '#41ab5d', label: () => t('bin.greenOnly') },
        { key: 'yellow', colour: '#f2b705', label: () => t('bin.yellowNoRed') },
        { key: 'red', colour: '#cb181d', label: () => t('bin.red') },
      ],
      classify: (s) => (s.red > 0 ? 'red' : s.yellow > 0 ? 'yellow' : s.green > 0 ? 'green' : 'none'),
    },
    risk: {
      title: () => t('layer.risk.title'),
      series: (p) => p.riskCells,
      seriesLabel: () => t('layer.risk.series'),
      bins: [
        { key: 'none', colour: NONE, label: () => t('bin.none') },
        { key: 'LOW', colour: '#fddbc7', label: () => t('risk.LOW') },
        { key: 'MEDIUM', colour: '#ef8a62', label: () => t('risk.MEDIUM') },
        { key: 'HIGH', colour: '#b2182b', label: () => t('risk.HIGH') },
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
    // What the page shows, kept to be drawn again in another language.
    liveState: 'off',
    liveText: null,
    mapMessage: null,
    loginMessage: null,
    totals: undefined,
    counts: null,
    title: '',
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

  const fmt = (n) => (n === null || n === undefined ? '–' : numFmt.format(Number(n)));
  const pct = (r) => (r === null || r === undefined ? '–' : pctFmt.format(r));
  const clock = (at) => timeFmt.format(new Date(at));

  // ----------------------------------------------------------------------
  // Talking to the hub.

  // HubError is a failed request. local, when set, is the page's own
  // words for it (a function, read in the current language); message is
  // then their English, else the hub's message as the hub wrote it.
  class HubError extends Error {
    constructor(message, code, status, local) {
      super(message);
      this.code = code || 'ERROR';
      this.status = status || 0;
      this.local = local || null;
    }
  }

  const errText = (e) => (e.local ? e.local() : e.message);

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
      const local = () => t('error.unreachable', { error: e.message });
      throw new HubError(`the hub cannot be reached (${e.message})`, 'NETWORK', 0, local);
    }
    let body;
    try {
      body = await resp.json();
    } catch (e) {
      const status = resp.status;
      throw new HubError(`the hub answered ${status} without a GraphQL result`, status >= 500 ? 'NETWORK' : 'HTTP', status,
        () => t('error.notGraphQL', { status }));
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
    const bad = (local) => Object.assign(new Error('unreadable token'), { local });
    if (parts.length !== 3) throw bad(() => t('token.parts'));
    let claims;
    try {
      const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
      const json = decodeURIComponent(Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)),
        (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
      claims = JSON.parse(json);
    } catch (e) {
      throw bad(() => t('token.payload'));
    }
    if (!claims || typeof claims.role !== 'string') throw bad(() => t('token.noRole'));
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
    S.title = '';
    document.title = t('app.title');
    clearNotice();
    S.loginMessage = message || null;
    drawLoginMessage();
    setState(message ? 'refused' : 'login');
    $('token').focus();
  }

  function drawLoginMessage() {
    const err = $('login-error');
    err.textContent = say(S.loginMessage);
    err.hidden = !S.loginMessage;
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
    n.replaceChildren(...all.map((x) => el('p', { class: x.kind, text: say(x.message) })));
    n.className = 'notice ' + (all.some((x) => x.kind === 'error') ? 'error' : 'warn');
    n.hidden = all.length === 0;
  }

  function mapMessage(message) {
    S.mapMessage = message || null;
    const m = $('map-message');
    m.textContent = say(S.mapMessage);
    m.hidden = !S.mapMessage;
  }

  // setLive shows the state of the live connection; text (a function)
  // overrides the state's usual words.
  function setLive(state, text) {
    S.liveState = state;
    S.liveText = text || null;
    document.body.dataset.live = state;
    drawLive();
  }

  function drawLive() {
    const state = S.liveState;
    const l = $('live');
    l.dataset.live = state;
    const words = {
      connected: () => (S.mapPolled ? t('live.connectedPolled') : t('live.connected')),
      connecting: () => t('live.connecting'),
      reconnecting: () => t('live.reconnecting'),
      polling: () => t('live.polling'),
      off: () => t('live.off'),
    }[state];
    l.textContent = S.liveText ? S.liveText() : words ? words() : state;
  }

  // handleError decides what an error means for the page: a refused token
  // sends the operator back to sign in; a hub that cannot be reached is
  // retried; anything else is shown and the page goes on.
  //
  // topic names the notice; label (a function) says what failed.
  function handleError(e, topic, label) {
    if (e.code === 'UNAUTHENTICATED') {
      refuse(() => t('error.refusedToken', { error: errText(e) }));
      return true;
    }
    if (e.code === 'NETWORK' || e.code === 'RATE_LIMITED') {
      notice(topic, () => t('error.retrying', { what: label(), error: errText(e) }));
      return false;
    }
    notice(topic, () => t('error.labelled', { what: label(), error: errText(e) }), 'error');
    return false;
  }

  // ----------------------------------------------------------------------
  // Signing in.

  function signIn(token) {
    token = (token || '').trim();
    if (!token) {
      showLogin(() => t('login.empty'));
      return;
    }
    let p;
    try {
      p = readToken(token);
    } catch (e) {
      refuse(() => t('login.notToken', { error: errText(e) }));
      return;
    }
    if (p.exp && p.exp <= Date.now()) {
      refuse(() => t('login.expired', { at: dateFmt.format(new Date(p.exp)) }));
      return;
    }
    if (!['ADMIN', 'DISTRICT', 'COMMITTEE'].includes(p.role)) {
      const role = p.role;
      refuse(() => t('login.wrongRole', { role }));
      return;
    }
    S.token = token;
    S.principal = p;
    sessionStorage.setItem(TOKEN_KEY, token);
    clearTimeout(S.expiryTimer);
    if (p.exp) {
      const ms = p.exp - Date.now();
      if (ms < 2 ** 31) S.expiryTimer = setTimeout(() => refuse(() => t('login.expiredNow')), ms);
    }
    $('login').hidden = true;
    $('app').hidden = false;
    $('signout').hidden = false;
    drawWho();
    start();
  }

  function drawWho() {
    const p = S.principal;
    if (!p || !S.token) return;
    const role = { ADMIN: () => t('role.ADMIN'), DISTRICT: () => t('role.DISTRICT'), COMMITTEE: () => t('role.COMMITTEE') }[p.role];
    $('who').textContent = t('who', { role: role ? role() : p.role, name: p.role === 'ADMIN' ? p.subject : p.scope });
  }

  async function start() {
    const gen = ++S.gen;
    setState('loading');
    mapMessage(() => t('map.loading'));
    const params = new URLSearchParams(location.search);
    try {
      const d = await gql('{ supplies { sku name } }');
      if (gen !== S.gen) return;
      if (d.supplies && d.supplies.length) S.supplies = d.supplies;
    } catch (e) {
      if (gen !== S.gen) return;
      if (e.code === 'NETWORK') return retryStart(gen, e);
      if (e.code === 'UNAUTHENTICATED') return handleError(e, 'signin', () => t('what.signin'));
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
          if (!c) notice('committee', () => t('committee.missing', { id: committee }), 'error');
          else if (c.district) district = c.district.id;
        } catch (e) {
          if (e.code === 'UNAUTHENTICATED' || e.code === 'NETWORK') throw e;
          notice('committee', () => t('committee.refused', { id: committee, error: errText(e) }), 'error');
        }
      }
      if (p.role === 'ADMIN' && !district) district = S.districts.length ? S.districts[0].id : '';
      if (!district) {
        mapMessage(() => t('map.noDistrict'));
        setState('empty');
        return;
      }
      await openDistrict(district, c);
    } catch (e) {
      if (gen !== S.gen) return;
      if (e.code === 'NETWORK') return retryStart(gen, e);
      if (handleError(e, 'open', () => t('what.open'))) return;
      mapMessage(() => t('map.nothing', { error: errText(e) }));
      setState('error');
    }
  }

  function retryStart(gen, e) {
    notice('hub', () => t('error.hubDown', { error: errText(e) }));
    mapMessage(() => t('map.waiting'));
    setState('waiting');
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(() => { if (gen === S.gen) { clearNotice('hub'); start(); } }, 5000);
  }

  function fillSupplies() {
    const sel = $('sku');
    sel.replaceChildren(el('option', { value: '', text: t('supplies.all') }),
      ...S.supplies.map((s) => el('option', { value: s.sku, text: skuName(s.sku) })));
    sel.value = S.sku || '';
  }

  function fillDistricts() {
    const sel = $('district');
    sel.replaceChildren(...S.districts.map((d) => el('option', { value: d.id, text: t('place.named', { name: d.name, code: d.code || d.id }) })));
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
    mapMessage(() => t('map.loadingDistrict'));

    const base = await gql(`query($id: ID!) { district(id: $id) { id code name cellCount pharmacies { id name location { lat lng } } } }`, { id });
    if (gen !== S.gen) return;
    if (!base.district) throw new HubError(`district ${id} does not exist`, 'NOT_FOUND', 0, () => t('district.missing', { id }));
    const d = base.district;
    S.view.district = d;
    const named = t('place.named', { name: d.name, code: d.code || d.id });
    $('place').textContent = committee ? t('place.within', { outer: named, inner: t('place.named', { name: committee.name, code: committee.code }) }) : named;
    S.title = d.name;
    document.title = t('app.titleOf', { name: S.title });

    let outline = [];
    try {
      const o = await gql('query($id: ID!) { district(id: $id) { outline { lat lng } } }', { id });
      outline = (o.district && o.district.outline) || [];
    } catch (e) {
      if (e.code === 'UNAUTHENTICATED' || e.code === 'NETWORK') throw e;
      notice('outline', () => t('district.noOutline', { error: errText(e) }));
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
      notice('aggregates', () => t('district.noAggregates', { error: errText(e) }), 'error');
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
    mapMessage(list.length ? null : () => t('map.noCells'));
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
      const tip = svg('title', {});
      tip.textContent = p.name;
      c.append(tip);
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
      if (e.code === 'UNAUTHENTICATED') handleError(e, 'totals', () => t('what.totals'));
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
      handleError(e, 'catchup', () => t('what.catchUp'));
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
    if (!c) throw new HubError(`committee ${id} does not exist`, 'NOT_FOUND', 0, () => t('committee.missing', { id }));
    S.view = { kind: 'committee', committee: c, pharmacies: new Map() };
    resetMap();
    showDetails(null);
    const named = t('place.named', { name: c.name, code: c.code });
    $('place').textContent = c.district ? t('place.within', { outer: named, inner: c.district.name }) : named;
    S.title = c.name;
    document.title = t('app.titleOf', { name: S.title });
    $('totals-panel').hidden = true;
    $('resolution').value = '9';
    $('resolution').disabled = true;
    for (const input of document.querySelectorAll('#layers input')) input.disabled = !['stock', 'risk'].includes(input.value);
    drawLayerTips();
    if (!['stock', 'risk'].includes(S.layer)) S.layer = 'stock';
    syncControls();
    rememberInURL();
    setState('loading');
    mapMessage(() => t('map.loadingCommittee'));
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
    mapMessage(cells.length ? null : () => t('map.noCommitteeCells'));
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
    S.counts = counts;
    const L = LAYERS[S.layer];
    const sku = S.sku ? skuName(S.sku) : t('supplies.all');
    let title = L.title();
    if (S.layer !== 'codes' && S.layer !== 'risk') title = t('legend.titleOf', { title, supply: sku });
    if (S.view && S.view.kind === 'committee' && S.layer === 'stock') title = t('legend.committeeStock', { supply: sku });
    if (S.view && S.view.kind === 'committee' && S.layer === 'risk') title = t('legend.committeeRisk');
    $('legend-title').textContent = title;
    const items = L.bins.map((b) => el('li', { 'data-bin': b.key },
      el('span', { class: 'swatch', 'data-colour': b.colour }), b.label(),
      el('span', { class: 'count', text: counts ? fmt(counts.get(b.key) || 0) : '' })));
    if (counts && counts.get('nodata')) {
      items.push(el('li', { 'data-bin': 'nodata' }, el('span', { class: 'swatch', 'data-colour': '#f7f7f7' }), t('bin.noFigures'), el('span', { class: 'count', text: fmt(counts.get('nodata')) })));
    }
    $('legend').replaceChildren(...items);
    // Swatch colours go through the CSS object model (the page's
    // Content-Security-Policy forbids inline style attributes).
    for (const s of $('legend').querySelectorAll('.swatch')) s.style.background = s.dataset.colour;
  }

  function row(label, value) {
    return [el('dt', { text: label }), el('dd', { text: value })];
  }

  // stockText lists stock levels: "Adult surgical mask 120, ...".
  function stockText(levels) {
    return levels.map((l) => t('stats.stockLine', { supply: skuName(l.sku), n: fmt(l.quantity) })).join(t('list.sep'));
  }

  function riskText(level) {
    const w = { LOW: () => t('risk.LOW'), MEDIUM: () => t('risk.MEDIUM'), HIGH: () => t('risk.HIGH') }[level];
    return w ? w() : level || t('bin.none');
  }

  function statsRows(s) {
    const rows = [];
    if (s.residents !== undefined) rows.push(...row(t('stats.residents'), fmt(s.residents)));
    if (s.pharmacies !== undefined && typeof s.pharmacies === 'number') rows.push(...row(t('stats.pharmacies'), fmt(s.pharmacies)));
    const stock = (s.stock || []).filter((l) => l.quantity > 0 || S.sku);
    rows.push(...row(t('stats.stock'), stock.length ? stockText(stock) : t('bin.none')));
    if (s.demand !== undefined) {
      rows.push(...row(t('stats.demand'), t('stats.demandOf', { n: fmt(s.demand), reservations: fmt(s.reservations), shortages: fmt(s.shortages) })));
      rows.push(...row(t('stats.allocations'), t('stats.allocationsOf', { n: fmt(s.allocations), fulfilled: fmt(s.fulfilled) })));
      rows.push(...row(t('stats.fulfilment'), pct(s.fulfilmentRate)));
      rows.push(...row(t('stats.codes'), t('stats.codesOf', { green: fmt(s.green), yellow: fmt(s.yellow), red: fmt(s.red) })));
    }
    rows.push(...row(t('stats.risk'), riskText(s.riskLevel)));
    return rows;
  }

  // skuName is a supply's name in the page's language; the hub's (English)
  // name for a supply the catalogues do not know yet.
  function skuName(sku) {
    const name = t(`sku.${sku}`);
    if (name !== `sku.${sku}`) return name;
    const s = S.supplies.find((x) => x.sku === sku);
    return (s && s.name) || sku;
  }

  function showDetails(entry) {
    const box = $('details');
    if (!entry) {
      box.replaceChildren(el('p', { class: 'hint', text: t('details.none') }));
      box.dataset.cell = '';
      return;
    }
    box.dataset.cell = entry.id;
    const head = el('p', { class: 'cellid' }, el('code', { text: entry.id }), ' ', t('details.resolution', { res: entry.cell.resolution }));
    if (!entry.stats) {
      box.replaceChildren(head, el('p', { class: 'hint', text: t('details.noFigures') }));
      return;
    }
    const s = entry.stats;
    const parts = [head];
    if (S.view.kind === 'committee') {
      parts.push(el('p', { text: s.area ? t('details.inArea') : t('details.outsideArea') }));
      const names = s.pharmacies.map((p) => t('details.pharmacyStock', { name: p.name, stock: stockText(p.stock.filter((l) => !S.sku || l.sku === S.sku)) }));
      parts.push(el('dl', {}, ...row(t('stats.pharmacies'), names.length ? names.join(t('list.sep2')) : t('bin.none')), ...row(t('stats.risk'), riskText(s.riskLevel))));
    } else {
      parts.push(el('dl', {}, ...statsRows(s)));
    }
    box.replaceChildren(...parts);
  }

  function showTotals(totals) {
    S.totals = totals;
    const box = $('totals');
    if (!totals) {
      box.replaceChildren(el('p', { class: 'hint', text: t('totals.none') }));
      return;
    }
    box.replaceChildren(el('dl', {}, ...statsRows(totals)));
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
    label.textContent = t('spark.label', {
      hours: fmt(ys.length), series: L.seriesLabel ? L.seriesLabel() : L.title(), now: fmt(ys[ys.length - 1]), peak: fmt(Math.max(...ys)),
    });
  }

  // ----------------------------------------------------------------------
  // Live: graphql-ws in the page. It reconnects by itself (with backoff)
  // when the hub goes away; once back, the page refetches what it may have
  // missed.

  function startLive(gen) {
    stopLive();
    const v = S.view;
    if (!window.graphqlWs) {
      notice('live', () => (liveProblem ? t('live.offBecause', { problem: liveProblem }) : t('live.offNoClient')));
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
        setLive('off', () => t('live.stopped'));
      },
      on: {
        connecting: (isRetry) => { if (gen === S.gen) setLive(isRetry ? 'reconnecting' : 'connecting'); },
        connected: (_socket, _payload, wasRetry) => {
          if (gen !== S.gen) return;
          setLive('connected');
          if (wasRetry) {
            clearNotice('catchup');
            catchUp();
          }
        },
        closed: (ev) => {
          if (gen !== S.gen || refused) return;
          if (ev && ev.code === 4403) {
            refused = true;
            const reason = ev.reason || 'forbidden';
            refuse(() => t('error.refusedToken', { error: reason }));
            return;
          }
          setLive('reconnecting');
        },
      },
    });
    S.client = client;
    // what names the subscription: liveMap, restocks or risks.
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
        { id: v.districtId, res: S.resolution, sku: S.sku || null }, (d) => cellUpdate(d.districtUpdates), 'liveMap');
    }
    const c = v.committee;
    if (c) {
      sub(`subscription($c: ID!) { restockAlerts(committeeId: $c) { seq at sku quantity stockAfter ring waitingServed gap
          pharmacy { id name address cell { id resolution boundary { lat lng } } stock { sku quantity } } } }`,
      { c: c.id }, (d) => restockAlert(d.restockAlerts), 'restocks');
      sub('subscription($c: ID!) { riskAlerts(committeeId: $c) { seq at kind cell checkpointId temperature rings reason gap } }',
        { c: c.id }, (d) => riskAlert(d.riskAlerts), 'risks');
    }
  }

  function subscriptionFailed(what, err) {
    const code = err.extensions && err.extensions.code;
    const message = err.message;
    if (code === 'UNAUTHENTICATED') {
      refuse(() => t('error.refusedToken', { error: message }));
      return;
    }
    // The map follows districtUpdates, or a committee's restock alerts;
    // without them it is refreshed instead.
    const drivesMap = what === 'liveMap' || (S.view && S.view.kind === 'committee' && what === 'restocks');
    const label = { liveMap: () => t('what.liveMap'), restocks: () => t('what.restocks'), risks: () => t('what.risks') }[what];
    const words = drivesMap ? () => t('live.subscriptionPolled', { what: label(), error: message })
      : () => t('live.subscriptionFailed', { what: label(), error: message });
    notice(what, words, 'error');
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
    $('feed-name').textContent = t('place.named', { name: c.name, code: c.code });
    let items = [];
    try { items = JSON.parse(sessionStorage.getItem(v.feedKey) || '[]'); } catch (e) { items = []; }
    v.feed = Array.isArray(items) ? items.filter((f) => f && f.a && ['restock', 'risk'].includes(f.kind)).slice(0, FEED_MAX) : [];
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

  // The feed keeps each alert's figures (not its words), so that it reads
  // in the page's current language.
  function drawFeed() {
    const list = $('feed-list');
    const v = S.view;
    if (!v || !v.feed) return;
    if (!v.feed.length) {
      list.replaceChildren(el('li', { class: 'hint', text: t('feed.empty') }));
      return;
    }
    list.replaceChildren(...v.feed.map((f) => {
      const [title, text] = f.kind === 'restock' ? restockWords(f.a) : riskWords(f.a);
      return el('li', { class: `alert ${f.kind}`, 'data-kind': f.kind },
        el('time', { text: clock(f.at) }), ' ', el('b', { text: title }), ' ', text,
        f.gap ? el('span', { class: 'gap', text: ' ' + t('feed.gap', { n: fmt(f.gap) }) }) : null);
    }));
  }

  function restockWords(a) {
    const where = a.ring === 0 ? t('feed.inArea') : a.ring === 1 ? t('feed.ringAway') : t('feed.ringsAway', { n: fmt(a.ring) });
    let text = t('feed.restockText', { n: fmt(a.quantity), supply: skuName(a.sku), after: fmt(a.stockAfter), where });
    if (a.waitingServed) text += t('feed.waitingServed', { n: fmt(a.waitingServed) });
    return [t('feed.restockTitle', { name: a.pharmacyName }), text];
  }

  function riskWords(a) {
    const words = {
      FEVER_SCAN: () => [t('feed.feverTitle'), a.temperature
        ? t('feed.feverText', { temperature: new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(a.temperature), checkpoint: a.checkpointId || '' })
        : t('feed.feverTextNoTemperature', { checkpoint: a.checkpointId || '' })],
      RISK_AREA_MARKED: () => [t('feed.markedTitle'), a.rings
        ? t('feed.markedTextRings', { cell: a.cell || '', rings: fmt(a.rings) })
        : t('feed.markedText', { cell: a.cell || '' })],
      RISK_AREA_LIFTED: () => [t('feed.liftedTitle'), t('feed.liftedText', { cell: a.cell || '' })],
    }[a.kind];
    const [title, text] = words ? words() : [a.kind, a.cell || ''];
    return [title, text + (a.reason ? ' ' + t('feed.reason', { reason: a.reason }) : '')];
  }

  function restockAlert(a) {
    pushFeed({
      kind: 'restock',
      at: a.at,
      a: { pharmacyName: a.pharmacy.name, quantity: a.quantity, sku: a.sku, stockAfter: a.stockAfter, ring: a.ring, waitingServed: a.waitingServed },
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
    pushFeed({
      kind: 'risk',
      at: a.at,
      a: { kind: a.kind, temperature: a.temperature, checkpointId: a.checkpointId, cell: a.cell, rings: a.rings, reason: a.reason },
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
        .catch((e) => { if (gen === S.gen && !handleError(e, 'reload', () => t('what.reload'))) startLive(gen); });
    } else {
      loadCommitteeStock(S.gen).catch((e) => handleError(e, 'reload', () => t('what.reload')));
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
      openDistrict(id, null).catch((e) => { if (!handleError(e, 'district', () => t('what.district'))) mapMessage(() => errText(e)); });
    });
    $('lang').addEventListener('change', () => {
      try { localStorage.setItem(LANG_KEY, $('lang').value); } catch (e) { /* private mode: for this page only */ }
      applyLanguage($('lang').value);
    });
    $('map').addEventListener('click', () => pin(null));
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') pin(null); });
  }

  // drawLayerTips explains the layers a COMMITTEE token may not use.
  function drawLayerTips() {
    for (const input of document.querySelectorAll('#layers input')) {
      input.parentNode.title = input.disabled ? t('layers.needDistrict') : '';
    }
  }

  function fillResolutions() {
    for (const o of $('resolution').options) {
      o.textContent = t('controls.resolutionOption', { res: o.value, area: fmt(Number(o.dataset.area)) });
    }
  }

  // applyLanguage puts every word on the page in language l: the static
  // ones (data-i18n, data-i18n-title, -placeholder, -aria-label) and
  // whatever the page has drawn.
  function applyLanguage(l) {
    lang = I18N.catalogues[l] ? l : 'en';
    setFormats();
    document.documentElement.lang = lang;
    document.body.dataset.lang = lang;
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
    for (const [attr, data] of [['title', 'i18nTitle'], ['placeholder', 'i18nPlaceholder'], ['aria-label', 'i18nAriaLabel']]) {
      for (const e of document.querySelectorAll(`[data-i18n-${attr}]`)) e.setAttribute(attr, t(e.dataset[data]));
    }
    $('lang').value = lang;
    document.title = S.title ? t('app.titleOf', { name: S.title }) : t('app.title');
    fillResolutions();
    fillSupplies();
    drawLoginMessage();
    drawNotices();
    mapMessage(S.mapMessage);
    drawLive();
    drawWho();
    drawLayerTips();
    drawLegend(S.counts);
    const v = S.view;
    if (v && v.cells) {
      const e = (S.pinned && v.cells.get(S.pinned)) || v.cells.get($('details').dataset.cell);
      showDetails(e || null);
    } else {
      showDetails(null);
    }
    if (S.totals !== undefined) showTotals(S.totals);
    drawSpark();
    if (v && v.feed) drawFeed();
  }

  function init() {
    applyLanguage(lang);
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
