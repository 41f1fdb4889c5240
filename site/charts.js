// Small SVG charts: bars for daily counts, lines for daily medians (gaps where a day has none).
// Presentation attributes and CSS classes only: the page's CSP allows no inline style.

import { svg, formatMs } from "./dom.js";

const W = 600;
const H = 160;
const PAD = { left: 52, right: 8, top: 10, bottom: 22 };

function frame(title, days, max, label) {
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  const x0 = PAD.left;
  const y0 = H - PAD.bottom;
  root.append(svg("line", { x1: x0, y1: y0, x2: W - PAD.right, y2: y0, class: "axis" }));
  root.append(svg("line", { x1: x0, y1: PAD.top, x2: x0, y2: y0, class: "axis" }));
  root.append(svg("text", { x: x0 - 4, y: PAD.top + 8, class: "tick", "text-anchor": "end" }, label(max)));
  root.append(svg("text", { x: x0 - 4, y: y0, class: "tick", "text-anchor": "end" }, label(0)));
  if (days.length) {
    root.append(svg("text", { x: x0, y: H - 6, class: "tick" }, days[0]));
    root.append(svg("text", { x: W - PAD.right, y: H - 6, class: "tick", "text-anchor": "end" }, days[days.length - 1]));
  }
  return root;
}

function scaleX(i, n) {
  return PAD.left + ((W - PAD.left - PAD.right) * (i + 0.5)) / Math.max(n, 1);
}

function scaleY(v, max) {
  return H - PAD.bottom - ((H - PAD.top - PAD.bottom) * v) / (max || 1);
}

export function barChart(title, days, values, cls = "bar") {
  const max = Math.max(1, ...values);
  const root = frame(title, days, max, (v) => String(v));
  const width = Math.max(1, (W - PAD.left - PAD.right) / Math.max(days.length, 1) - 1);
  values.forEach((v, i) => {
    if (!v) return;
    const y = scaleY(v, max);
    const bar = svg("rect", { x: scaleX(i, days.length) - width / 2, y, width, height: H - PAD.bottom - y, class: cls });
    bar.append(svg("title", {}, `${days[i]}: ${v}`));
    root.append(bar);
  });
  return root;
}

// series: [{name, values, cls}] with values in milliseconds or null.
export function lineChart(title, days, series) {
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const max = Math.max(1, ...all);
  const root = frame(title, days, max, formatMs);
  for (const s of series) {
    let points = [];
    const flush = () => {
      if (points.length > 1) root.append(svg("polyline", { points: points.join(" "), class: `line ${s.cls}` }));
      points = [];
    };
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return flush();
      const x = scaleX(i, days.length);
      const y = scaleY(v, max);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
      const dot = svg("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2.5, class: `dot ${s.cls}` });
      dot.append(svg("title", {}, `${days[i]} ${s.name}: ${formatMs(v)}`));
      root.append(dot);
    });
    flush();
  }
  return root;
}
