#!/usr/bin/env node
/*
 * Issue, revoke and rotate API keys the way a key-issuing application does.
 *
 * An example for docs/keys.md: node 20 and its standard library only,
 * writing exactly the schema that ngx_http_apikey_module reads and
 * apikeyctl writes.  Node's crypto has BLAKE2b-512 but no keyed BLAKE2b-256,
 * so the digest comes from the small RFC 7693 function below.
 *
 *   issue_key.js [--redis host:port|unix:/path] [--prefix apikey:]
 *                [--hash-secret FILE] [--db N] [--user U] [--password P]
 *                COMMAND ...
 *
 *   issue  [--id ID] [--owner O] [--name N] [--access full|read|limited]
 *          [--grant RES:r|w|rw ...] [--expires UNIX] [--limit L]
 *          [--ip CIDR ...] [--key-prefix taapit_]   prints the key once
 *   revoke ID
 *   rotate ID [--grace SECONDS]                     prints the new key once
 *   hash                                            stdin key -> digest
 *
 * The three rules: show the key once, store only its digest, publish the
 * digest on S events after every write.  Each write also appends the
 * digest to the change log S changes and names the dataset (S epoch, SET
 * NX), in the same transaction (docs/replication.md).
 */

'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const { parseArgs } = require('node:util');

const ALPHABET =
    '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';


/* --- BLAKE2b (RFC 7693), keyed, any output length up to 64 ------------- */

const M64 = 0xffffffffffffffffn;
const IV = [
    0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn,
    0xa54ff53a5f1d36f1n, 0x510e527fade682d1n, 0x9b05688c2b3e6c1fn,
    0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
const SIGMA = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

function rotr(x, n) {
    return ((x >> BigInt(n)) | (x << BigInt(64 - n))) & M64;
}

function compress(h, block, t, last) {
    const v = h.concat(IV);
    const m = [];

    for (let i = 0; i < 16; i++) {
        m.push(block.readBigUInt64LE(i * 8));
    }

    v[12] ^= t & M64;
    v[13] ^= t >> 64n;
    if (last) {
        v[14] ^= M64;
    }

    function g(a, b, c, d, x, y) {
        v[a] = (v[a] + v[b] + x) & M64;
        v[d] = rotr(v[d] ^ v[a], 32);
        v[c] = (v[c] + v[d]) & M64;
        v[b] = rotr(v[b] ^ v[c], 24);
        v[a] = (v[a] + v[b] + y) & M64;
        v[d] = rotr(v[d] ^ v[a], 16);
        v[c] = (v[c] + v[d]) & M64;
        v[b] = rotr(v[b] ^ v[c], 63);
    }

    for (let r = 0; r < 12; r++) {
        const s = SIGMA[r % 10];
        g(0, 4, 8, 12, m[s[0]], m[s[1]]);
        g(1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(3, 7, 11, 15, m[s[6]], m[s[7]]);
        g(0, 5, 10, 15, m[s[8]], m[s[9]]);
        g(1, 6, 11, 12, m[s[10]], m[s[11]]);
        g(2, 7, 8, 13, m[s[12]], m[s[13]]);
        g(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }

    for (let i = 0; i < 8; i++) {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

function blake2b(data, outlen = 64, key = Buffer.alloc(0)) {
    const h = IV.slice();
    let input = data;
    let off = 0;
    let t = 0n;

    h[0] ^= 0x01010000n ^ (BigInt(key.length) << 8n) ^ BigInt(outlen);

    if (key.length > 0) {
        const kb = Buffer.alloc(128);
        key.copy(kb);
        input = Buffer.concat([kb, data]);
    }

    while (input.length - off > 128) {
        t += 128n;
        compress(h, input.subarray(off, off + 128), t, false);
        off += 128;
    }

    const last = Buffer.alloc(128);
    input.copy(last, 0, off);
    t += BigInt(input.length - off);
    compress(h, last, t, true);

    const out = Buffer.alloc(64);
    h.forEach((x, i) => out.writeBigUInt64LE(x, i * 8));
    return out.subarray(0, outlen);
}


/* --- the key and its digest ---------------------------------------------- */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) {
        c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return c >>> 0;
});

/* CRC-32 (as zlib's crc32) in base62, most significant first, 6 chars */
function checksum(body) {
    let crc = 0xffffffff;
    for (const b of Buffer.from(body)) {
        crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    }
    crc = (crc ^ 0xffffffff) >>> 0;

    let out = '';
    for (let i = 0; i < 6; i++) {
        out = ALPHABET[crc % 62] + out;
        crc = Math.floor(crc / 62);
    }
    return out;
}

function randomBase62(n) {
    let s = '';
    for (let i = 0; i < n; i++) {
        s += ALPHABET[crypto.randomInt(62)];      /* CSPRNG, uniform */
    }
    return s;
}

function makeKey(prefix = 'taapit_') {
    const body = prefix + randomBase62(32);
    return body + checksum(body);
}

function newId() {
    return 'k_' + randomBase62(12);
}

/* the same bytes as libsodium's crypto_generichash(out, 32, key, len, s) */
function digest(key, secret) {
    return blake2b(Buffer.from(key), 32, secret || Buffer.alloc(0))
        .toString('hex');
}

/* as apikey_hash_secret: one trailing newline dropped, 32 to 64 bytes */
function readSecret(path) {
    let data = fs.readFileSync(path);
    if (data.length > 0 && data[data.length - 1] === 0x0a) {
        data = data.subarray(0, data.length - 1);
    }
    if (data.length < 32 || data.length > 64) {
        die(1, '--hash-secret must hold 32 to 64 bytes');
    }
    return data;
}


/* --- a tiny Redis client ------------------------------------------------- */

class RedisError extends Error {}

class Redis {
    constructor(address) {
        this.address = address;
        this.buf = Buffer.alloc(0);
        this.waiting = [];
    }

    connect() {
        const opts = this.address.startsWith('unix:')
            ? { path: this.address.slice(5) }
            : { host: this.address.replace(/:\d+$/, '').replace(/[[\]]/g, ''),
                port: Number(this.address.match(/:(\d+)$/)[1]) };

        return new Promise((resolve, reject) => {
            this.sock = net.createConnection(opts, resolve);
            this.sock.setTimeout(2000, () =>
                this.sock.destroy(new Error('timed out')));
            this.sock.on('error', (e) => {
                reject(e);
                this.waiting.splice(0).forEach((w) => w.reject(e));
            });
            this.sock.on('data', (d) => this.onData(d));
        });
    }

    call(...args) {
        const parts = [`*${args.length}\r\n`];
        for (const a of args) {
            const b = Buffer.from(String(a));
            parts.push(`$${b.length}\r\n`, b, '\r\n');
        }
        this.sock.write(Buffer.concat(parts.map((p) => Buffer.from(p))));
        return new Promise((resolve, reject) => {
            this.waiting.push({ resolve, reject });
        });
    }

    close() {
        this.sock.end();
    }

    onData(data) {
        this.buf = Buffer.concat([this.buf, data]);
        for (;;) {
            const r = this.parse(0);
            if (r === null) {
                return;
            }
            this.buf = this.buf.subarray(r[1]);
            const w = this.waiting.shift();
            if (r[0] instanceof RedisError) {
                w.reject(r[0]);
            } else {
                w.resolve(r[0]);
            }
        }
    }

    /* [value, next offset], or null while the reply is incomplete */
    parse(off) {
        const eol = this.buf.indexOf('\r\n', off);
        if (eol < 0) {
            return null;
        }
        const kind = String.fromCharCode(this.buf[off]);
        const line = this.buf.toString('utf8', off + 1, eol);
        let next = eol + 2;

        switch (kind) {
        case '+':
            return [line, next];
        case '-':
            return [new RedisError(line), next];
        case ':':
            return [Number(line), next];
        case '$': {
            const n = Number(line);
            if (n < 0) {
                return [null, next];
            }
            if (this.buf.length < next + n + 2) {
                return null;
            }
            return [this.buf.toString('utf8', next, next + n), next + n + 2];
        }
        case '*': {
            const n = Number(line);
            const items = [];
            if (n < 0) {
                return [null, next];
            }
            for (let i = 0; i < n; i++) {
                const r = this.parse(next);
                if (r === null) {
                    return null;
                }
                items.push(r[0]);
                next = r[1];
            }
            return [items, next];
        }
        default:
            throw new Error('bad reply from Redis');
        }
    }
}

/* entries the change log keeps, about (XADD MAXLEN ~) */
const CHANGES_MAXLEN = '100000';

/*
 * The change log's commands for the digests the commands publish:
 * XADD S changes ... d <digest> each, and SET S epoch <random> NX
 * (docs/replication.md).
 */
function changeLog(commands) {
    const log = [];
    let prefix = null;
    for (const c of commands) {
        if (c[0] === 'PUBLISH' && c[1].endsWith('events')) {
            prefix = c[1].slice(0, -'events'.length);
            log.push(['XADD', prefix + 'changes', 'MAXLEN', '~',
                      CHANGES_MAXLEN, '*', 'd', c[2]]);
        }
    }
    if (prefix !== null) {
        log.push(['SET', prefix + 'epoch',
                  crypto.randomBytes(16).toString('hex'), 'NX']);
    }
    return log;
}

/* MULTI, commands (and their change log entries), EXEC: false when a
   WATCHed key changed */
async function transaction(r, commands) {
    await r.call('MULTI');
    for (const c of commands.concat(changeLog(commands))) {
        await r.call(...c);
    }
    const replies = await r.call('EXEC');
    if (replies === null) {
        return false;
    }
    for (const reply of replies) {
        if (reply instanceof RedisError) {
            throw reply;
        }
    }
    return true;
}


/* --- the three writes ---------------------------------------------------- */

/*
 * "unlimited", or terms such as "20/s 1000/h" (a bare N per hour), at most
 * one per unit; written as apikeyctl writes it: the terms in the order s,
 * m, h, d, and an hourly limit alone as a bare number
 */
function limitText(value) {
    if (value === 'unlimited') {
        return value;
    }
    const terms = new Map();
    for (const t of value.split(' ').filter((x) => x !== '')) {
        const m = /^(\d{1,10})(?:\/([smhd]))?$/.exec(t);
        const unit = m && (m[2] || 'h');
        if (!m || terms.has(unit)
            || Number(m[1]) > (unit === 's' ? 1000000 : 4294967280)) {
            die(1, `invalid --limit "${value}"`);
        }
        terms.set(unit, Number(m[1]));
    }
    if (terms.size === 0) {
        die(1, `invalid --limit "${value}"`);
    }
    if (terms.size === 1 && terms.has('h')) {
        return String(terms.get('h'));
    }
    return ['s', 'm', 'h', 'd'].filter((u) => terms.has(u))
        .map((u) => `${terms.get(u)}/${u}`).join(' ');
}


async function issue(r, o, secret) {
    const P = o.prefix;
    const fields = [['owner', o.owner], ['name', o.name],
        ['access', o.access],
        ['grants', o.grant.length ? o.grant.join(' ') : undefined],
        ['expires', o.expires], ['active', '1'], ['limit', o.limit],
        ['ips', o.ip.length ? o.ip.join(' ') : undefined]];

    for (let attempt = 0; attempt < 8; attempt++) {
        const key = makeKey(o['key-prefix']);
        const d = digest(key, secret);
        const id = o.id || newId();

        await r.call('WATCH', P + 'id:' + id, P + 'key:' + d);
        if (await r.call('EXISTS', P + 'id:' + id, P + 'key:' + d)) {
            await r.call('UNWATCH');
            if (o.id) {
                die(1, `id ${id} already exists`);
            }
            continue;
        }

        const record = ['id', id];
        for (const [f, v] of fields) {
            if (v !== undefined) {
                record.push(f, v);
            }
        }

        if (await transaction(r, [
            ['HSET', P + 'key:' + d, ...record],
            ['SET', P + 'id:' + id, d],
            ['PUBLISH', P + 'events', d]])) {
            console.log(key);                 /* the only time it is shown */
            console.error(`issued id ${id}`);
            return;
        }
    }
    die(3, 'the keys kept changing');
}

/* WATCHes and returns the digest of an id, or exits with 2 */
async function lookup(r, o, id) {
    const P = o.prefix;

    await r.call('WATCH', P + 'id:' + id);
    const d = await r.call('GET', P + 'id:' + id);
    if (d !== null) {
        await r.call('WATCH', P + 'key:' + d);
        if (await r.call('HGET', P + 'key:' + d, 'id') === id) {
            return d;
        }
    }
    await r.call('UNWATCH');
    die(2, `unknown id ${id}`);
}

async function revoke(r, o, secret, id) {
    for (let attempt = 0; attempt < 8; attempt++) {
        const d = await lookup(r, o, id);
        if (await transaction(r, [
            ['HSET', o.prefix + 'key:' + d, 'active', '0'],
            ['PUBLISH', o.prefix + 'events', d]])) {
            console.log(`revoked ${id}`);
            return;
        }
    }
    die(3, 'the keys kept changing');
}

async function rotate(r, o, secret, oldId) {
    const P = o.prefix;

    for (let attempt = 0; attempt < 8; attempt++) {
        const d = await lookup(r, o, oldId);
        const old = await r.call('HGETALL', P + 'key:' + d);
        const record = new Map();
        for (let i = 0; i + 1 < old.length; i += 2) {
            record.set(old[i], old[i + 1]);
        }

        /* the old key lives on for the grace period, or less if it had less */
        const now = Math.floor(Date.now() / 1000);
        let until = now + Number(o.grace);
        const expires = Number(record.get('expires') || 0);
        if (expires > 0 && expires < until) {
            until = expires;
        }
        /* and says since when it is deprecated: now, or its first rotation */
        let since = now;
        const deprecated = Number(record.get('deprecated') || 0);
        if (deprecated > 0 && deprecated < since) {
            since = deprecated;
        }
        record.delete('deprecated');

        const key = makeKey(o['key-prefix']);
        const nd = digest(key, secret);
        const id = newId();
        record.delete('id');
        record.set('rotated_from', oldId);
        const fields = ['id', id, ...[...record].flat()];

        if (await transaction(r, [
            ['HSET', P + 'key:' + nd, ...fields],
            ['SET', P + 'id:' + id, nd],
            ['HSET', P + 'key:' + d, 'expires', String(until),
                'deprecated', String(since)],
            ['PUBLISH', P + 'events', nd],
            ['PUBLISH', P + 'events', d]])) {
            console.log(key);                 /* the only time it is shown */
            console.error(`rotated ${oldId} to ${id}; the old key expires `
                + `at ${until}`);
            return;
        }
    }
    die(3, 'the keys kept changing');
}

function hashStdin(secret) {
    let key = fs.readFileSync(0, 'utf8');
    if (key.endsWith('\n')) {
        key = key.slice(0, key.endsWith('\r\n') ? -2 : -1);
    }
    if (key === '' || key.includes('\n')) {
        die(1, 'give one key on stdin');
    }
    console.log(digest(key, secret));
}


/* --- command line -------------------------------------------------------- */

function die(code, message) {
    console.error('issue_key: ' + message);
    process.exit(code);
}

async function main() {
    let parsed;

    try {
        parsed = parseArgs({
            allowPositionals: true,
            options: {
                redis: { type: 'string', default: '127.0.0.1:6379' },
                prefix: { type: 'string', default: 'apikey:' },
                'hash-secret': { type: 'string' },
                db: { type: 'string', default: '0' },
                user: { type: 'string' },
                password: { type: 'string',
                    default: process.env.APIKEYCTL_PASSWORD },
                'key-prefix': { type: 'string', default: 'taapit_' },
                id: { type: 'string' },
                owner: { type: 'string' },
                name: { type: 'string' },
                access: { type: 'string', default: 'full' },
                grant: { type: 'string', multiple: true, default: [] },
                expires: { type: 'string' },
                limit: { type: 'string' },
                ip: { type: 'string', multiple: true, default: [] },
                grace: { type: 'string', default: '86400' },
            },
        });
    } catch (e) {
        die(1, e.message);
    }

    const o = parsed.values;
    const [command, arg, extra] = parsed.positionals;
    const secret = o['hash-secret'] ? readSecret(o['hash-secret']) : null;

    if (!['issue', 'revoke', 'rotate', 'hash'].includes(command)
        || extra !== undefined
        || ((command === 'revoke' || command === 'rotate') !== !!arg)) {
        die(1, 'usage: issue_key.js [options] issue|revoke ID|rotate ID|hash');
    }
    if (!['full', 'read', 'limited'].includes(o.access)) {
        die(1, '--access is full, read or limited');
    }
    if (o.grant.length && o.access !== 'limited') {
        die(1, '--grant needs --access limited');
    }
    if (o.grant.some((g) => !/^[^\s:]+:(r|w|rw)$/.test(g))) {
        die(1, '--grant is resource:r, resource:w or resource:rw');
    }
    if (o.ip.some((c) => net.isIP(c.split('/')[0]) === 0)) {
        die(1, '--ip takes an IPv4 or IPv6 address or CIDR');
    }
    if (o.limit !== undefined) {
        o.limit = limitText(o.limit);
    }
    for (const [name, re] of [['expires', /^\d+$/], ['grace', /^\d+$/],
        ['db', /^\d+$/]]) {
        if (o[name] !== undefined && !re.test(o[name])) {
            die(1, `invalid --${name} "${o[name]}"`);
        }
    }

    if (command === 'hash') {
        hashStdin(secret);
        return;
    }

    const r = new Redis(o.redis);
    try {
        await r.connect();
        if (o.password !== undefined) {
            await r.call('AUTH', ...(o.user ? [o.user] : []), o.password);
        }
        if (o.db !== '0') {
            await r.call('SELECT', o.db);
        }
        if (command === 'issue') {
            await issue(r, o, secret);
        } else if (command === 'revoke') {
            await revoke(r, o, secret, arg);
        } else {
            await rotate(r, o, secret, arg);
        }
        r.close();
    } catch (e) {
        die(3, `Redis at ${o.redis}: ${e.message}`);
    }
}

if (require.main === module) {
    main();
}

module.exports = { blake2b, checksum, digest, makeKey };
