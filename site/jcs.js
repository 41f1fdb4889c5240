// RFC 8785 JSON Canonicalization Scheme for values produced by JSON.parse.
// Object keys sort by UTF-16 code units (what Array.prototype.sort does on strings);
// strings and numbers use ECMAScript JSON serialization, which RFC 8785 adopts.

export function canonicalize(value) {
  if (value === null || typeof value === "boolean") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError("JCS: non-finite number");
    return JSON.stringify(value);
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(canonicalize).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalize(value[k])).join(",") + "}";
  }
  throw new TypeError("JCS: unsupported value of type " + typeof value);
}

export function canonicalBytes(value) {
  return new TextEncoder().encode(canonicalize(value));
}
