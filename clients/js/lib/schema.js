'use strict';
/*
 * The key format and the record's field rules of ngx_http_apikey_module
 * (docs/keys.md), as the module's schema library (src/ngx_apikey_format.c)
 * and apikeyctl apply them: a value refused here is one the module would
 * refuse, or one apikeyctl would not write.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');

const ALPHABET =
    '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const RANDOM_LEN = 32;
const CHECKSUM_LEN = 6;
const MAX_KEY_LEN = 256;
const MAX_KEY_PREFIX = MAX_KEY_LEN - RANDOM_LEN - CHECKSUM_LEN;    /* 218 */
const MAX_PREFIX = 128;
const MAX_STR = 255;
const MAX_IPS = 64;
const MAX_GRANTS_LEN = 4096;
const MAX_EXPIRES = 4294967295;
const LIMIT_MAX = 4294967280;
const SECRET_MIN = 32;
const SECRET_MAX = 64;

const TOKEN = /^[A-Za-z0-9._~+/-]*$/;
const NEW_ID = /^[A-Za-z0-9._~:@+-]+$/;

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

/* CRC-32 (as zlib's) of body, in base62, padded with '0' to 6 characters */
function checksum(body) {
    let crc = 0xffffffff;
    for (const b of Buffer.from(body)) {
        crc = CRC_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
    }
    crc = (crc ^ 0xffffffff) >>> 0;
    let out = '';
    for (let i = 0; i < CHECKSUM_LEN; i++) {
        out = ALPHABET[crc % 62] + out;
        crc = Math.floor(crc / 62);
    }
    return out;
}

function checksumValid(key) {
    return key.length > CHECKSUM_LEN
        && checksum(key.slice(0, -CHECKSUM_LEN)) === key.slice(-CHECKSUM_LEN);
}

/* n characters, each drawn uniformly from the CSPRNG */
function randomBase62(n) {
    let s = '';
    for (let i = 0; i < n; i++) {
        s += ALPHABET[crypto.randomInt(62)];
    }
    return s;
}

/* the prefix, 32 random base62 characters, the checksum */
function makeKey(prefix = 'taapit_') {
    checkKeyPrefix(prefix);
    const body = prefix + randomBase62(RANDOM_LEN);
    return body + checksum(body);
}

/* apikeyctl's default id: "k_" and 12 random base62 characters */
function newId() {
    return 'k_' + randomBase62(12);
}

/* lowercase hex of BLAKE2b-256 of the key, keyed with the hash secret */
function digest(key, secret) {
    return blake2b(Buffer.from(key), 32, secret || Buffer.alloc(0))
        .toString('hex');
}

/* as apikey_hash_secret: one trailing newline dropped, 32 to 64 bytes */
function readSecret(path) {
    let data = fs.readFileSync(path);
    if (data.length <= SECRET_MAX + 1 && data[data.length - 1] === 0x0a) {
        data = data.subarray(0, data.length - 1);
    }
    checkSecret(data);
    return data;
}

function checkSecret(secret) {
    if (secret && (secret.length < SECRET_MIN || secret.length > SECRET_MAX)) {
        throw new RangeError(
            `the hash secret must hold ${SECRET_MIN} to ${SECRET_MAX} bytes`);
    }
}


/* --- the rules ------------------------------------------------------------ */

function bytes(s) {
    return Buffer.from(String(s));
}

function printable(b) {
    return !b.some((c) => c < 0x20 || c === 0x7f);
}

function bad(msg) {
    return new RangeError(msg);
}

/* "" (no prefix) or 1..218 token characters, as apikey_prefix */
function checkKeyPrefix(p) {
    if (typeof p !== 'string' || p.length > MAX_KEY_PREFIX || !TOKEN.test(p)) {
        throw bad(`invalid key prefix ${JSON.stringify(p)}: use up to `
                  + `${MAX_KEY_PREFIX} letters, digits and - . _ ~ + /`);
    }
}

/* the prefix of every Redis name, at most 128 bytes */
function checkPrefix(p) {
    if (bytes(p).length > MAX_PREFIX) {
        throw bad(`the Redis prefix is longer than ${MAX_PREFIX} bytes`);
    }
}

/*
 * 1..255 bytes without control characters (any id the module loads); a
 * new id also keeps to letters, digits and - . _ ~ : @ +
 */
function checkId(id, isNew = false) {
    const b = bytes(id);
    if (typeof id !== 'string' || b.length < 1 || b.length > MAX_STR
        || !printable(b))
    {
        throw bad(`invalid id ${JSON.stringify(id)}: 1..${MAX_STR} bytes `
                  + 'without control characters');
    }
    if (isNew && !NEW_ID.test(id)) {
        throw bad(`invalid id ${JSON.stringify(id)}: use letters, digits `
                  + 'and - . _ ~ : @ +');
    }
}

/* owner, name: up to 255 bytes without control characters */
function checkText(what, s) {
    const b = bytes(s);
    if (typeof s !== 'string' || b.length > MAX_STR || !printable(b)) {
        throw bad(`invalid ${what}: up to ${MAX_STR} bytes without control `
                  + 'characters');
    }
}

function checkAccess(a) {
    if (!['full', 'read', 'limited'].includes(a)) {
        throw bad(`invalid access ${JSON.stringify(a)}: use full, read or `
                  + 'limited');
    }
}

/* unix seconds, 0 (never) to 4294967295 (2106-02-07T06:28:15Z) */
function checkExpires(t) {
    if (!Number.isInteger(t) || t < 0 || t > MAX_EXPIRES) {
        throw bad(`invalid expires ${t}: unix seconds up to ${MAX_EXPIRES}`);
    }
}

const LIMIT_MAX_SECOND = 1000000;
const UNITS = ['s', 'm', 'h', 'd'];
const TERM = /^([0-9]{1,10})(?:\/([smhd]))?$/;

function badLimit(n) {
    return bad(`invalid limit ${JSON.stringify(n)}: a number of requests `
               + `per hour (0..${LIMIT_MAX}), "unlimited", or terms such as `
               + `"20/s 1000/h": N/s (N up to ${LIMIT_MAX_SECOND}), N/m, `
               + 'N/h, N/d, at most one per unit');
}

/*
 * The "limit" field, as the module and apikeyctl write it: requests per
 * hour (0..4294967280), "unlimited", or terms such as "20/s 1000/h" (a
 * string, or an array of terms): N/s (N up to 1000000), N/m, N/h, N/d, at
 * most one per unit, a bare N per hour.  Terms are written in the order
 * s, m, h, d; an hourly limit alone as a bare number.
 */
function limitText(n) {
    if (n === 'unlimited') {
        return n;
    }
    if (Array.isArray(n) && n.every((t) => typeof t === 'string')) {
        n = n.join(' ');
    }
    if (typeof n === 'string') {
        const limits = new Map();
        for (const term of n.split(' ')) {
            if (term === '') {
                continue;
            }
            const m = TERM.exec(term);
            if (!m) {
                throw badLimit(n);
            }
            const unit = m[2] || 'h';
            const value = Number(m[1]);
            if (limits.has(unit)
                || value > (unit === 's' ? LIMIT_MAX_SECOND : LIMIT_MAX)) {
                throw badLimit(n);
            }
            limits.set(unit, value);
        }
        if (limits.size === 0) {
            throw badLimit(n);
        }
        if (limits.size === 1 && limits.has('h')) {
            return String(limits.get('h'));
        }
        return UNITS.filter((u) => limits.has(u))
            .map((u) => `${limits.get(u)}/${u}`).join(' ');
    }
    if (!Number.isInteger(n) || n < 0 || n > LIMIT_MAX) {
        throw badLimit(n);
    }
    return String(n);
}

/* an IPv4 address as inet_pton() reads it: four decimal parts, no 0 lead */
function ipv4Bytes(s) {
    const parts = s.split('.');
    if (parts.length !== 4) {
        return null;
    }
    const out = [];
    for (const p of parts) {
        if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) {
            return null;
        }
        out.push(Number(p));
    }
    return Buffer.from(out);
}

/* an IPv6 address as inet_pton() reads it (a dotted IPv4 tail allowed) */
function ipv6Bytes(s) {
    if (!net.isIPv6(s) || s.includes('%')) {
        return null;
    }
    if (s.includes('.')) {
        const colon = s.lastIndexOf(':');
        const v4 = ipv4Bytes(s.slice(colon + 1));
        if (!v4) {
            return null;
        }
        s = s.slice(0, colon + 1) + v4.readUInt16BE(0).toString(16) + ':'
            + v4.readUInt16BE(2).toString(16);
    }
    let groups = s.split(':');
    const gap = s.indexOf('::');
    if (gap >= 0) {
        const l = gap > 0 ? s.slice(0, gap).split(':') : [];
        const r = gap + 2 < s.length ? s.slice(gap + 2).split(':') : [];
        groups = l.concat(Array(8 - l.length - r.length).fill('0'), r);
    }
    if (groups.length !== 8) {
        return null;
    }
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
    return out;
}


/*
 * An IPv4 or IPv6 address or CIDR as the module reads it (a /bits of 1 to
 * 3 digits), without host bits set past the mask (the module would mask
 * them; a writer refuses them).
 */
function checkCidr(c) {
    const slash = c.indexOf('/');
    const addr = slash < 0 ? c : c.slice(0, slash);
    const bits = slash < 0 ? null : c.slice(slash + 1);
    const v6 = addr.includes(':');
    const top = v6 ? 128 : 32;
    const raw = v6 ? ipv6Bytes(addr) : ipv4Bytes(addr);
    if (!raw || (bits !== null
                 && (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > top)))
    {
        throw bad(`invalid CIDR ${JSON.stringify(c)}: use an IPv4 or IPv6 `
                  + 'address or CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32');
    }
    const n = bits === null ? top : Number(bits);
    for (let i = n; i < top; i++) {
        if (raw[i >> 3] & (0x80 >> (i & 7))) {
            throw bad(`invalid CIDR ${JSON.stringify(c)}: the address has `
                      + 'bits set beyond the /mask');
        }
    }
}

function ipsText(ips) {
    if (ips.length < 1 || ips.length > MAX_IPS) {
        throw bad(`give 1 to ${MAX_IPS} CIDRs`);
    }
    ips.forEach(checkCidr);
    return ips.join(' ');
}

/*
 * "resource:r", ":w" or ":rw" items (the resource is what precedes the
 * last ':', 1..255 bytes without spaces or control characters), merged per
 * resource as apikeyctl merges them, at most 4096 bytes once parsed by the
 * module (2 bytes and the resource each)
 */
function grantsText(grants) {
    const merged = new Map();
    for (const g of grants) {
        const colon = String(g).lastIndexOf(':');
        const res = colon < 0 ? '' : g.slice(0, colon);
        const perm = colon < 0 ? '' : g.slice(colon + 1);
        const rb = bytes(res);
        if (rb.length < 1 || rb.length > MAX_STR
            || rb.some((c) => c <= 0x20 || c === 0x7f)
            || !['r', 'w', 'rw', 'wr'].includes(perm))
        {
            throw bad(`invalid grant ${JSON.stringify(g)}: use resource:r, `
                      + 'resource:w or resource:rw');
        }
        const b = perm === 'r' ? 1 : perm === 'w' ? 2 : 3;
        merged.set(res, (merged.get(res) || 0) | b);
    }
    let size = 0;
    for (const r of merged.keys()) {
        size += 2 + bytes(r).length;
    }
    if (size > MAX_GRANTS_LEN) {
        throw bad(`the grants take more than the ${MAX_GRANTS_LEN} bytes the `
                  + 'module allows');
    }
    return [...merged].map(([r, p]) => `${r}:${['', 'r', 'w', 'rw'][p]}`)
        .join(' ');
}

module.exports = {
    ALPHABET, MAX_KEY_PREFIX, MAX_PREFIX, MAX_STR, MAX_IPS, MAX_GRANTS_LEN,
    MAX_EXPIRES, LIMIT_MAX, LIMIT_MAX_SECOND,
    blake2b, checksum, checksumValid, makeKey, newId, digest, readSecret,
    checkSecret, checkKeyPrefix, checkPrefix, checkId, checkText,
    checkAccess, checkExpires, limitText, checkCidr, ipsText, grantsText,
};
