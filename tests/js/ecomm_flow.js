'use strict';
// Ecommerce flows driven through Clover's official Node SDK against a sandbox.
// Usage: node ecomm_flow.js <scenario>; prints one JSON line (see runFlow).
//
//   charge-refund  PAKMS key -> token -> token retrieve -> charge -> partial refund ->
//                  retrieve refund and charge
//   order-pay      order create -> token -> order pay -> order retrieve -> return
//   encrypted-pan  keys.json -> encrypt the PAN with Node's crypto as Clover's docs
//                  show (TransArmor, RSA-OAEP) -> token from encrypted_pan -> charge
//   decline        token for a declining test card -> charge (settled either way)
//   charge         token for an approving test card -> charge (settled either way)
//   capture        token -> pre-auth (capture: false) -> capture part of it
//   charge-retry   the SDK's own retries on (setMaxNetworkRetries(2)) -> token -> charge
//   card-on-file   token -> customer with the card saved -> charge the customer ->
//                  update the customer -> delete the customer

const crypto = require('crypto');
const http = require('http');
const {expectSuccess: must, runFlow, settle, requireEnv} = require('./ecomm_client');

const APPROVED_VISA = '4242424242424242';
const DECLINED_VISA = '4005571702222222';

function testCard(number) {
  return {number, exp_month: '12', exp_year: '2030', cvv: '123', brand: 'VISA'};
}

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new Error(`${url} answered ${res.statusCode} with non-JSON`));
        }
      });
    }).on('error', reject);
  });
}

// Clover's TA key: base64 of the 256-byte RSA modulus followed by the exponent.
// Plaintext is "00000000" + PAN; padding RSA-OAEP with SHA-1 (Node's default).
function encryptPan(taKeyBase64, pan) {
  const raw = Buffer.from(taKeyBase64, 'base64');
  const jwk = {
    kty: 'RSA',
    n: raw.subarray(0, 256).toString('base64url'),
    e: raw.subarray(256).toString('base64url'),
  };
  const key = crypto.createPublicKey({key: jwk, format: 'jwk'});
  return crypto.publicEncrypt(
      {key, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING},
      Buffer.from('00000000' + pan),
  ).toString('base64');
}

async function tokenThenCharge(clover, record, at, number) {
  at('tokens.create');
  const token = must(await clover.tokens.create({
    apiKey: process.env.CLOVER_API_ACCESS_KEY, card: testCard(number),
  }));
  record('token', token);
  at('charges.create');
  record('charge_attempt', await settle(clover.charges.create({
    amount: 1234, currency: 'usd', source: token.id,
  })));
}

const scenarios = {
  async 'charge-refund'(clover, record, at) {
    at('apikey.retrieve');
    const pakms = must(await clover.apikey.retrieve());
    record('pakms', pakms);
    at('tokens.create');
    const token = must(await clover.tokens.create({
      apiKey: pakms.apiAccessKey, card: testCard(APPROVED_VISA),
    }));
    record('token', token);
    at('tokens.retrieve');
    // The SDK's options hash {api_key} becomes the APIKEY header the tokenizer wants.
    record('token_retrieved', must(await clover.tokens.retrieve(token.id, {api_key: pakms.apiAccessKey})));
    at('charges.create');
    const charge = must(await clover.charges.create({
      amount: 2500, currency: 'usd', source: token.id, description: 'node sdk interop',
    }));
    record('charge', charge);
    at('refunds.create');
    const refund = must(await clover.refunds.create({charge: charge.id, amount: 1000}));
    record('refund', refund);
    at('refunds.retrieve');
    record('refund_retrieved', must(await clover.refunds.retrieve(refund.id)));
    at('charges.retrieve');
    record('charge_after_refund', must(await clover.charges.retrieve(charge.id)));
  },

  async 'order-pay'(clover, record, at) {
    at('orders.create');
    const order = must(await clover.orders.create({
      currency: 'usd',
      email: 'buyer@example.com',
      items: [
        {type: 'sku', description: 'Espresso beans 1kg', amount: 1800, currency: 'usd', quantity: 1},
        {type: 'sku', description: 'Filter papers', amount: 350, currency: 'usd', quantity: 2},
      ],
    }));
    record('order', order);
    at('tokens.create');
    const token = must(await clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY, card: testCard(APPROVED_VISA),
    }));
    record('token', token);
    at('orders.pay');
    record('paid', must(await clover.orders.pay(order.id, {
      source: token.id, email: 'buyer@example.com',
    })));
    at('orders.retrieve');
    record('order_after_pay', must(await clover.orders.retrieve(order.id)));
    at('orders.returnOrder');
    record('returned', must(await clover.orders.returnOrder(order.id, {reason: 'requested_by_customer'})));
  },

  async 'capture'(clover, record, at) {
    at('tokens.create');
    const token = must(await clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY, card: testCard(APPROVED_VISA),
    }));
    at('charges.create');
    const auth = must(await clover.charges.create({
      amount: 4000, currency: 'usd', source: token.id, capture: false,
    }));
    record('auth', auth);
    at('charges.capture');
    record('captured', must(await clover.charges.capture(auth.id, {amount: 3500})));
    at('charges.retrieve');
    record('after', must(await clover.charges.retrieve(auth.id)));
  },

  async 'charge-retry'(clover, record, at) {
    clover.setMaxNetworkRetries(2); // the SDK retries 409 and 503 answers
    at('tokens.create');
    const token = must(await clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY, card: testCard(APPROVED_VISA),
    }));
    at('charges.create');
    record('charge', must(await clover.charges.create({
      amount: 990, currency: 'usd', source: token.id,
    })));
  },

  async 'card-on-file'(clover, record, at) {
    at('tokens.create');
    const token = must(await clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY, card: testCard(APPROVED_VISA),
    }));
    at('customers.create');
    const customer = must(await clover.customers.create({
      email: 'regular@example.com', firstName: 'Grace', lastName: 'Hopper', source: token.id,
    }));
    record('customer', customer);
    at('charges.create');
    record('charge', must(await clover.charges.create({
      amount: 1500, currency: 'usd', source: customer.id,
      stored_credentials: {sequence: 'SUBSEQUENT', initiator: 'CARDHOLDER', is_scheduled: false},
    })));
    at('customers.update');
    record('updated', must(await clover.customers.update(customer.id, {phone: '4085551858'})));
    at('customers.del');
    record('deleted', must(await clover.customers.del(customer.id)));
  },

  async 'encrypted-pan'(clover, record, at) {
    at('keys.json');
    const keys = await getJson(requireEnv('CLOVER_BASE_URL') + '/assets/keys.json');
    const encrypted = encryptPan(keys.TA_PUBLIC_KEY_DEV, APPROVED_VISA);
    record('encrypted_pan_length', encrypted.length);
    at('tokens.create (tampered)');
    const tampered = Buffer.from(encrypted, 'base64');
    tampered[100] ^= 0xff;
    const badCard = testCard(APPROVED_VISA);
    delete badCard.number;
    record('tampered_attempt', await settle(clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY,
      card: {...badCard, encrypted_pan: tampered.toString('base64'), first6: '424242', last4: '4242'},
    })));
    at('tokens.create');
    const card = testCard(APPROVED_VISA);
    delete card.number;
    const token = must(await clover.tokens.create({
      apiKey: process.env.CLOVER_API_ACCESS_KEY,
      card: {...card, encrypted_pan: encrypted, first6: '424242', last4: '4242'},
    }));
    record('token', token);
    at('charges.create');
    record('charge', must(await clover.charges.create({
      amount: 3100, currency: 'usd', source: token.id,
    })));
  },

  async 'decline'(clover, record, at) {
    await tokenThenCharge(clover, record, at, DECLINED_VISA);
  },

  async 'charge'(clover, record, at) {
    await tokenThenCharge(clover, record, at, APPROVED_VISA);
  },
};

const name = process.argv[2];
if (!Object.prototype.hasOwnProperty.call(scenarios, name)) {
  process.stdout.write(JSON.stringify({
    ok: false, failed_step: 'argv', error: {message: `unknown scenario ${name}`},
  }) + '\n');
  process.exitCode = 2;
} else {
  runFlow(scenarios[name]);
}
