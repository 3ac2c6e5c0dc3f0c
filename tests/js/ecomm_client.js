'use strict';
// Builds Clover's official Node Ecommerce SDK (clover-ecomm-sdk), unmodified,
// pointed at a Clover sandbox given by environment variables, the way a user
// would repoint it: the SDK reads its hosts from lib/config.json into
// `this._config` (token host read at call time, API host at construction), and
// `setHost(host, port, protocol)` sets host, port and scheme for every call.
//
// Environment: CLOVER_BASE_URL (e.g. http://127.0.0.1:8123),
// CLOVER_ACCESS_TOKEN (Bearer for /v1/*), CLOVER_MERCHANT_ID, and optionally
// CLOVER_FORWARDED_FOR: the buyer's IP to send as `x-forwarded-for`.
//
// Clover has required `x-forwarded-for` on charge and order-pay requests since
// 2023; SDK 1.0.0 predates that and has no option for extra headers. A user adds
// it the only way the SDK leaves open: an http.Agent (setHttpAgent) that sets the
// header on each outgoing request before it is sent.

const http = require('http');
const sdkConfig = require('clover-ecomm-sdk/lib/config.json');
const Clover = require('clover-ecomm-sdk');

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

function sandboxClient() {
  const base = new URL(requireEnv('CLOVER_BASE_URL'));
  const protocol = base.protocol.replace(':', '');
  const port = base.port || (protocol === 'https' ? '443' : '80');
  // Both hosts of the 'sandbox' environment go to the emulator.
  sdkConfig.sandbox.default_url = base.hostname;
  sdkConfig.sandbox.token_url = base.hostname;
  const clover = new Clover(requireEnv('CLOVER_ACCESS_TOKEN'), {environment: 'sandbox'});
  clover.setHost(base.hostname, port, protocol);
  // The SDK writes a "{}" body after a GET whose Content-Length it set to 0;
  // on a kept-alive connection those two bytes become the start of the next
  // request. A fresh connection per request (the SDK's own setHttpAgent)
  // keeps every request well-formed.
  clover.setHttpAgent(new BuyerIpAgent(process.env.CLOVER_FORWARDED_FOR));
  return clover;
}

class BuyerIpAgent extends http.Agent {
  constructor(buyerIp) {
    super({keepAlive: false});
    this.buyerIp = buyerIp || null;
  }

  addRequest(req, options) {
    // Headers are still unsent here: the SDK writes the body after the socket connects.
    if (this.buyerIp && req.method === 'POST') {
      req.setHeader('x-forwarded-for', this.buyerIp);
    }
    return super.addRequest(req, options);
  }
}

// What a rejected SDK promise carried, for the JSON result line (no secrets:
// the SDK's error objects hold no request headers).
function describeError(err) {
  if (!err || typeof err !== 'object') {
    return {class: typeof err, message: String(err)};
  }
  return {
    resolvedErrorBody: err.resolvedErrorBody || null,
    class: err.constructor ? err.constructor.name : null,
    type: err.type || null,
    rawType: err.rawType || null,
    code: err.code || null,
    statusCode: err.statusCode || null,
    message: err.message || null,
    param: err.param || null,
  };
}

// Runs `steps(clover, record)`; prints exactly one JSON line:
// {"ok": true, ...recorded} or {"ok": false, "failed_step": ..., "error": ...}.
async function runFlow(steps) {
  const result = {};
  let step = 'setup';
  const record = (name, value) => {
    result[name] = value;
  };
  const at = (name) => {
    step = name;
  };
  try {
    const clover = sandboxClient();
    await steps(clover, record, at);
    process.stdout.write(JSON.stringify({ok: true, ...result}) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({
      ok: false, failed_step: step, error: describeError(err), ...result,
    }) + '\n');
  }
}

// SDK 1.0.0 rejects only when a response body has a top-level `message`; any
// other error body (e.g. {"error": {...}} with status 4xx) resolves like a
// success. Flows pass each result through this so such a body stops the flow.
function expectSuccess(value) {
  if (value && typeof value === 'object' && value.error) {
    const err = new Error('the SDK resolved an error body: ' + JSON.stringify(value.error));
    err.resolvedErrorBody = value.error;
    throw err;
  }
  return value;
}

// Settles a promise into {resolved: value} or {rejected: describeError(err)}.
async function settle(promise) {
  try {
    return {resolved: await promise};
  } catch (err) {
    return {rejected: describeError(err)};
  }
}

module.exports = {sandboxClient, describeError, expectSuccess, runFlow, settle, requireEnv};
