// DOM helpers: every value from the data becomes a text node or an attribute value,
// never markup. URLs pass safeUrl (http/https only) before they reach an href.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, props = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setProps(node, props);
  append(node, children);
  return node;
}

function setProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "href") {
      const url = safeUrl(value);
      if (url) node.setAttribute("href", url);
    } else node.setAttribute(key, String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// Relative links (`?record=3`) stay on this page; absolute ones must be http(s).
export function safeUrl(value) {
  if (typeof value !== "string" || !value) return null;
  if (value.startsWith("?") || value.startsWith("#")) return value;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

export function shortDigest(digest) {
  if (typeof digest !== "string") return "";
  const hex = digest.replace(/^sha256:/, "");
  return hex.length > 16 ? `${digest.startsWith("sha256:") ? "sha256:" : ""}${hex.slice(0, 12)}…` : digest;
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  if (s < 129600) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export function formatTime(text) {
  return typeof text === "string" ? text.replace("T", " ").replace(/\.\d+Z$/, "Z") : "";
}
