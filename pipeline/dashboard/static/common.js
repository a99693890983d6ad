// Shared by the dashboard pages: the API token (sessionStorage only), fetch with
// `Authorization: Bearer`, and small DOM helpers. Server data is only ever inserted as
// text (textContent, attributes), never as HTML.
"use strict";

const Panoray = (() => {
  const TOKEN_KEY = "panoray.apiToken";
  const SVG_NS = "http://www.w3.org/2000/svg";
  let onTokenChange = () => {};

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function setToken(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives until the page closes */ }
    showTokenState();
    onTokenChange();
  }

  /** fetch() against this server's API, with the token when one is set. */
  function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    const t = token();
    if (t) headers.set("Authorization", "Bearer " + t);
    return fetch(path, { ...options, headers, cache: "no-store", credentials: "same-origin" });
  }

  /** The `error` of a JSON error body, else the status line. */
  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error) return String(body.error);
    } catch (e) { /* not JSON */ }
    return `${response.status} ${response.statusText}`;
  }

  /** An HTML element: el("span", {class: "x", text: "hi"}, child, ...). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  /** An SVG element, attributes as in el(). */
  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    for (const c of children) if (c != null) node.append(c);
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
  }

  function $(id) { return document.getElementById(id); }

  function showTokenState() {
    const state = $("token-state");
    if (state) state.textContent = token() ? "a token is set for this tab" : "no token set";
    const button = $("token-button");
    if (button) button.classList.toggle("has-token", Boolean(token()));
  }

  /** Opens the token form, saying why it is needed. */
  function askToken(why) {
    const panel = $("token-panel");
    if (!panel) return;
    $("token-why").textContent = why || "";
    panel.hidden = false;
    $("token-input").focus();
  }

  /** Wires the token button and form; onChange runs after the token is set or forgotten. */
  function initToken(onChange) {
    onTokenChange = onChange || (() => {});
    $("token-button").addEventListener("click", () => {
      const panel = $("token-panel");
      panel.hidden = !panel.hidden;
      if (!panel.hidden) $("token-input").focus();
    });
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("token-input");
      const value = input.value.trim();
      input.value = "";
      if (!value) return;
      $("token-panel").hidden = true;
      setToken(value);
    });
    $("token-clear").addEventListener("click", () => setToken(""));
    showTokenState();
  }

  return { token, setToken, api, errorText, el, svg, $, askToken, initToken };
})();
