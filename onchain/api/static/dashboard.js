// Live dashboard: loads the current state over REST, then follows /v2/realtime.
// Charts are keyed by block number on one chain (?chain=NAME, else the first chain that reports a head).
"use strict";

(function () {
  const CHANNELS = ["blocks", "prices", "tvl", "volumes", "protocols", "swaps"];
  const MAX_POINTS = 240;
  const MAX_SWAPS = 20;

  const state = {
    chain: new URLSearchParams(location.search).get("chain"),
    heads: {},
    prices: {},
    protocols: {},
    pools: {},
    poolRequests: {},
    swaps: [],
    seq: {},
    updates: 0,
    priceCoin: null,
    series: { tvl: [[], []], price: [[], []], volume: [[], []] },
  };
  const charts = {};
  let dirty = false;

  const $ = (id) => document.getElementById(id);

  function usd(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const abs = Math.abs(value);
    const options = { style: "currency", currency: "USD" };
    if (abs >= 1e6) Object.assign(options, { notation: "compact", maximumFractionDigits: 2 });
    else if (abs < 10) Object.assign(options, { maximumFractionDigits: 4 });
    else Object.assign(options, { maximumFractionDigits: 2 });
    return new Intl.NumberFormat("en-US", options).format(value);
  }

  function axisUsd(value) {
    return new Intl.NumberFormat("en-US", {
      style: "currency", currency: "USD", notation: "compact", maximumSignificantDigits: 5,
    }).format(value);
  }

  function pct(value) {
    if (value === null || value === undefined) return "";
    return (value >= 0 ? "+" : "") + value.toFixed(2) + "%";
  }

  function amount(raw, decimals) {
    const value = Number(raw) / Math.pow(10, decimals ?? 18);
    return new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 }).format(value);
  }

  function short(hex) {
    return hex ? hex.slice(0, 8) + "…" + hex.slice(-4) : "";
  }

  function symbolOf(coin) {
    const price = state.prices[coin];
    return (price && price.symbol) || short(coin.split(":")[1] || coin);
  }

  function setChange(element, value) {
    element.textContent = value === null || value === undefined ? "" : pct(value) + " 24h";
    element.className = "sub" + (value > 0 ? " up" : value < 0 ? " down" : "");
  }

  // --- state changes ---------------------------------------------------------------------

  function point(series, block, value) {
    const [xs, ys] = series;
    if (block === null || block === undefined || value === null || value === undefined) return;
    const last = xs.length ? xs[xs.length - 1] : null;
    if (last === block) {
      ys[ys.length - 1] = value;
    } else if (last === null || block > last) {
      xs.push(block);
      ys.push(value);
      if (xs.length > MAX_POINTS) {
        xs.shift();
        ys.shift();
      }
    }
  }

  function totals() {
    let tvl = 0;
    let volume = 0;
    for (const p of Object.values(state.protocols)) {
      tvl += p.tvl || 0;
      volume += p.volume24h || 0;
    }
    return { tvl, volume };
  }

  function onMainChain(chain) {
    if (!state.chain && chain) state.chain = chain;
    return !chain || chain === state.chain;
  }

  function protocol(id) {
    if (!state.protocols[id]) state.protocols[id] = { id, name: id, category: "", tvl: 0, volume24h: 0 };
    return state.protocols[id];
  }

  function handle(message) {
    if (message.type !== "update") return;
    state.seq[message.channel] = message.seq;
    state.updates += 1;
    const data = message.data;
    switch (message.channel) {
      case "blocks": {
        state.heads[data.chain] = { block: data.value, timestamp: data.timestamp };
        if (onMainChain(data.chain)) {
          const t = totals();
          point(state.series.tvl, data.block, t.tvl);
          point(state.series.volume, data.block, t.volume);
          const price = state.prices[state.priceCoin];
          if (price) point(state.series.price, data.block, price.value);
        }
        break;
      }
      case "prices": {
        const known = state.prices[data.id] || {};
        state.prices[data.id] = Object.assign(known, {
          value: data.value, change24h: data.change24h, block: data.block, chain: data.chain,
        });
        if (!state.priceCoin) choosePriceCoin();
        if (data.id === state.priceCoin) point(state.series.price, data.block, data.value);
        break;
      }
      case "tvl":
        Object.assign(protocol(data.id), { tvl: data.value, tvlChange: data.change24h, block: data.block });
        point(state.series.tvl, data.block, totals().tvl);
        break;
      case "volumes":
        Object.assign(protocol(data.id), { volume24h: data.value, volumeChange: data.change24h });
        point(state.series.volume, data.block, totals().volume);
        break;
      case "protocols":
        Object.assign(protocol(data.id), {
          tvl: data.value, tvlChange: data.change24h, volume24h: data.volume24h ?? protocol(data.id).volume24h,
          fees24h: data.fees24h, block: data.block,
        });
        break;
      case "swaps":
        state.swaps.unshift(data);
        state.swaps.length = Math.min(state.swaps.length, MAX_SWAPS);
        loadPool(data.id);
        break;
    }
    dirty = true;
  }

  function choosePriceCoin() {
    const coins = Object.keys(state.prices);
    const weth = coins.find((c) => (state.prices[c].symbol || "").toUpperCase() === "WETH"
      && (!state.chain || c.startsWith(state.chain + ":")));
    const volatile = coins.find((c) => Math.abs((state.prices[c].value || 1) - 1) > 0.05);
    state.priceCoin = weth || volatile || coins[0] || null;
  }

  // --- rendering -------------------------------------------------------------------------

  function chart(id, label, color) {
    const target = $(id);
    const width = Math.max(280, target.clientWidth || 360);
    return new uPlot({
      width, height: 200,
      scales: { x: { time: false } },
      axes: [
        { stroke: "#8896a5", grid: { stroke: "#26303b" }, space: 90, values: (u, ticks) => ticks.map(String) },
        { stroke: "#8896a5", grid: { stroke: "#26303b" }, size: 80, values: (u, ticks) => ticks.map(axisUsd) },
      ],
      series: [{ label: "block" }, { label, stroke: color, width: 2, value: (u, v) => usd(v) }],
      legend: { show: true },
    }, [[], []], target);
  }

  function row(cells, fresh) {
    const tr = document.createElement("tr");
    if (fresh) tr.className = "fresh";
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }

  function renderTables() {
    const protocols = Object.values(state.protocols).sort((a, b) => (b.tvl || 0) - (a.tvl || 0));
    $("protocols").tBodies[0].replaceChildren(...protocols.map((p) => row([
      [p.name], [p.category], [usd(p.tvl), "num"], [usd(p.volume24h), "num"], [usd(p.fees24h), "num"],
      [pct(p.tvlChange), "num " + (p.tvlChange > 0 ? "up" : p.tvlChange < 0 ? "down" : "")],
    ])));

    const coins = Object.keys(state.prices).sort((a, b) => symbolOf(a).localeCompare(symbolOf(b)));
    $("prices").tBodies[0].replaceChildren(...coins.map((c) => {
      const p = state.prices[c];
      return row([[symbolOf(c)], [usd(p.value), "num"], [pct(p.change24h), "num"], [String(p.block ?? ""), "num"]]);
    }));

    $("swaps").tBodies[0].replaceChildren(...state.swaps.map((s, i) => {
      const [sold, bought] = describeSwap(s);
      return row([[String(s.block)], [s.protocol || s.family || ""], [poolName(s.id)], [sold], [bought],
        [short(s.tx), "mono"]], i === 0);
    }));

    const select = $("price-coin");
    if (select.options.length !== coins.length) {
      select.replaceChildren(...coins.map((c) => {
        const option = document.createElement("option");
        option.value = c;
        option.textContent = symbolOf(c);
        return option;
      }));
    }
    if (state.priceCoin) select.value = state.priceCoin;
  }

  function poolName(id) {
    const pool = state.pools[id];
    if (!pool || !pool.tokens) return short(id.split(":")[1]);
    return pool.tokens.map((t) => t.symbol || short(t.id.split(":")[1])).join("/");
  }

  function describeSwap(swap) {
    const pool = state.pools[swap.id];
    const tokens = (pool && pool.tokens) || [{}, {}];
    const a = swap.args || {};
    const sym = (i) => tokens[i].symbol || "token" + i;
    const fmt = (raw, i) => amount(raw, tokens[i].decimals) + " " + sym(i);
    if ("amount0In" in a) {
      return Number(a.amount0In) > 0
        ? [fmt(a.amount0In, 0), fmt(a.amount1Out, 1)]
        : [fmt(a.amount1In, 1), fmt(a.amount0Out, 0)];
    }
    if ("amount0" in a) {
      const a0 = Number(a.amount0);
      return a0 > 0 ? [fmt(a.amount0, 0), fmt(-Number(a.amount1), 1)] : [fmt(a.amount1, 1), fmt(-a0, 0)];
    }
    return ["", ""];
  }

  function render() {
    if (!dirty) return;
    dirty = false;
    const head = state.heads[state.chain] || Object.values(state.heads)[0];
    if (head) {
      $("head-block").textContent = String(head.block);
      $("head-chain").textContent = state.chain || "";
      $("head-time").textContent = head.timestamp ? new Date(head.timestamp * 1000).toISOString().slice(11, 19) : "";
    }
    $("updates-count").textContent = String(state.updates);
    const t = totals();
    $("total-tvl").textContent = usd(t.tvl);
    $("total-volume").textContent = usd(t.volume);
    const price = state.prices[state.priceCoin];
    $("price-label").textContent = state.priceCoin ? symbolOf(state.priceCoin) + " price" : "Price";
    $("price-main").textContent = price ? usd(price.value) : "–";
    setChange($("price-change"), price ? price.change24h : null);
    charts.tvl.setData(state.series.tvl);
    charts.price.setData(state.series.price);
    charts.volume.setData(state.series.volume);
    renderTables();
  }

  function frame() {
    render();
    requestAnimationFrame(frame);
  }

  // --- data in ---------------------------------------------------------------------------

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(path + " answered " + response.status);
    return response.json();
  }

  function loadPool(id) {
    if (state.pools[id] || state.poolRequests[id]) return;
    state.poolRequests[id] = getJson("/v2/pools/" + encodeURIComponent(id))
      .then((pool) => { state.pools[id] = pool; dirty = true; })
      .catch(() => { state.pools[id] = {}; });
  }

  async function loadInitial() {
    const [chains, protocols, prices] = await Promise.allSettled([
      getJson("/v2/chains"), getJson("/v2/protocols"), getJson("/v2/realtime/prices"),
    ]);
    if (chains.status === "fulfilled") {
      const stored = chains.value.chains.filter((c) => c.head)
        .sort((a, b) => (b.head.timestamp || 0) - (a.head.timestamp || 0));
      for (const c of stored) state.heads[c.slug] = { block: c.head.number, timestamp: c.head.timestamp };
      if (!state.chain && stored.length) state.chain = stored[0].slug;
    }
    if (protocols.status === "fulfilled") {
      for (const p of protocols.value.protocols) {
        Object.assign(protocol(p.id), {
          name: p.name, category: p.category, tvl: p.tvl, volume24h: p.volume24h, fees24h: p.fees24h,
          tvlChange: p.change24h ?? p.tvlChange24h,
        });
      }
    }
    if (prices.status === "fulfilled") {
      for (const [coin, p] of Object.entries(prices.value.coins)) {
        state.prices[coin] = { value: p.price, symbol: p.symbol, block: p.block, chain: coin.split(":")[0] };
      }
      choosePriceCoin();
    }
    dirty = true;
  }

  function connect(backoff) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(scheme + location.host + "/v2/realtime");
    const conn = $("conn");
    ws.onopen = () => {
      backoff = 250;
      conn.textContent = "live";
      conn.className = "conn on";
      for (const channel of CHANNELS) {
        const params = {};
        if (state.seq[channel] !== undefined) params.resumeFrom = state.seq[channel];
        ws.send(JSON.stringify({ type: "subscribe", channel, params }));
      }
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      for (const m of Array.isArray(message) ? message : [message]) handle(m);
    };
    ws.onclose = () => {
      conn.textContent = "reconnecting";
      conn.className = "conn off";
      setTimeout(() => connect(Math.min(backoff * 2, 10000)), backoff);
    };
  }

  async function start() {
    charts.tvl = chart("chart-tvl", "TVL", "#58a6ff");
    charts.price = chart("chart-price", "price", "#3fb950");
    charts.volume = chart("chart-volume", "24h volume", "#d29922");
    $("price-coin").addEventListener("change", (event) => {
      state.priceCoin = event.target.value;
      state.series.price = [[], []];
      dirty = true;
    });
    try {
      await loadInitial();
    } catch (error) {
      console.warn("initial load failed", error);
    }
    connect(250);
    requestAnimationFrame(frame);
  }

  start();
})();
