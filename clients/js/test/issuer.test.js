'use strict';
/*
 * The package against a live nginx with the module and a private Redis
 * (t/clients/env.sh sets the environment): keys it creates are accepted,
 * revoked, rotated and deleted ones refused as the module decides, and its
 * records are those apikeyctl writes, byte for byte.
 */

const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const http = require('node:http');
const { after, before, test } = require('node:test');
const { createClient } = require('redis');

const { Issuer, UnknownIdError, checksumValid, digest } =
    require('../lib/index.js');

const REDIS_PORT = Number(process.env.APIKEY_TEST_REDIS_PORT || 16480);
const NGINX_PORT = Number(process.env.APIKEY_TEST_NGINX_PORT || 1985);
const SECRET_FILE = process.env.APIKEY_TEST_SECRET;
const APIKEYCTL = process.env.APIKEYCTL;

let r;
let iss;
let secret;

function request(key, method = 'GET', path = '/api/x') {
    return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: NGINX_PORT,
                                   method, path, agent: false,
                                   headers: { 'X-Secret-Key': key } },
        (res) => {
            let body = '';
            res.on('data', (d) => { body += d; });
            res.on('end', () => resolve([res.statusCode, body]));
        });
        req.on('error', reject);
        req.end();
    });
}

/*
 * polls: the module applies a published change within 100 ms on a healthy
 * connection, but the machine may be loaded
 */
async function statusBecomes(key, want, method = 'GET', path = '/api/x') {
    const end = Date.now() + 5000;
    for (;;) {
        const [st] = await request(key, method, path);
        if (st === want || Date.now() > end) {
            return st;
        }
        await new Promise((res) => setTimeout(res, 50));
    }
}

function ctl(...args) {
    return spawnSync(APIKEYCTL, ['--redis', `127.0.0.1:${REDIS_PORT}`,
                                 '--hash-secret', SECRET_FILE, ...args],
                     { encoding: 'utf8', timeout: 20000 });
}

async function hgetall(d) {
    /* the fields in the order Redis keeps them */
    return r.sendCommand(['HGETALL', 'apikey:key:' + d]);
}

before(async () => {
    r = createClient({ socket: { host: '127.0.0.1', port: REDIS_PORT } });
    await r.connect();
    secret = Issuer.readSecret(SECRET_FILE);
    iss = new Issuer(r, { hashSecret: secret });
});

after(async () => {
    await r.quit();
});

test('a created key is accepted, a revoked one refused', async () => {
    const k = await iss.create({ owner: 'acme', name: 'js key' });
    assert.ok(k.key.startsWith('taapit_'));
    assert.ok(checksumValid(k.key));
    assert.equal(await statusBecomes(k.key, 200), 200);
    assert.equal(await r.get('apikey:id:' + k.id), k.digest);
    assert.equal(await iss.revoke(k.id), k.digest);
    assert.equal(await statusBecomes(k.key, 401), 401);
});

test('the digest is apikeyctl\'s', async () => {
    const k = await iss.create();
    const out = execFileSync(APIKEYCTL, ['--hash-secret', SECRET_FILE,
                                         'hash'],
                             { input: k.key + '\n', encoding: 'utf8' });
    assert.equal(out.trim(), k.digest);
});

test('the record is apikeyctl\'s, byte for byte', async () => {
    const k = await iss.create({
        id: 'js-same', owner: 'ac me', name: 'caf\u00e9', access: 'limited',
        grants: ['users:r', 'orders:w', 'users:w'], expires: 1900000000,
        limit: 5000, ips: ['10.0.0.0/8', '2001:db8::/32'] });
    let p = ctl('create', '--id', 'ctl-same-js', '--owner', 'ac me',
                '--name', 'caf\u00e9', '--access', 'limited',
                '--grant', 'users:r', '--grant', 'orders:w',
                '--grant', 'users:w', '--expires', '1900000000',
                '--limit', '5000', '--ip', '10.0.0.0/8',
                '--ip', '2001:db8::/32');
    assert.equal(p.status, 0, p.stderr);
    const mine = await hgetall(k.digest);
    const theirs = await hgetall(await r.get('apikey:id:ctl-same-js'));
    assert.deepEqual(mine.slice(0, 2), ['id', 'js-same']);
    assert.deepEqual(mine.slice(2), theirs.slice(2));
    assert.ok(mine.includes('users:rw orders:w'));

    /* rotated alike: copy, the new expiry, rotated_from last */
    const n1 = await iss.rotate('js-same', { grace: 3600,
                                             expires: 2000000000 });
    p = ctl('rotate', 'ctl-same-js', '--grace', '3600',
            '--expires', '2000000000');
    assert.equal(p.status, 0, p.stderr);
    const n2 = await hgetall(digest(p.stdout.trim(), secret));
    const m1 = await hgetall(n1.digest);
    assert.deepEqual(m1.slice(2, -1), n2.slice(2, -1));
    assert.deepEqual(m1.slice(-2), ['rotated_from', 'js-same']);

    /*
     * and the old records alike: the same fields in the same order, the
     * end of the grace and the time of each rotation
     */
    const o1 = await hgetall(k.digest);
    const o2 = await hgetall(await r.get('apikey:id:ctl-same-js'));
    const names = (o) => o.filter((_, i) => i % 2 === 0);
    assert.deepEqual(names(o1), names(o2));
    assert.equal(o1.at(-2), 'deprecated');
    const f1 = new Map(), f2 = new Map();
    for (let i = 0; i + 1 < o1.length; i += 2) {
        f1.set(o1[i], o1[i + 1]);
        f2.set(o2[i], o2[i + 1]);
    }
    for (const [f, v] of f1) {
        if (!['id', 'expires', 'deprecated'].includes(f)) {
            assert.equal(v, f2.get(f), f);
        }
    }
    for (const f of [f1, f2]) {
        assert.equal(Number(f.get('expires')),
                     Number(f.get('deprecated')) + 3600);
    }
    assert.ok(Math.abs(Number(f1.get('deprecated'))
                       - Number(f2.get('deprecated'))) <= 5);
});

test('limits of several windows are apikeyctl\'s, and decide', async () => {
    for (const [given, written] of [['1000/h  20/s', '20/s 1000/h'],
                                    [['5/d', '7/m'], '7/m 5/d'],
                                    ['0005/h', '5'], ['9', '9']]) {
        const k = await iss.create({ limit: given });
        const text = Array.isArray(given) ? given.join(' ') : given;
        const p = ctl('create', '--limit', text);
        assert.equal(p.status, 0, p.stderr);
        const d = digest(p.stdout.trim(), secret);
        assert.equal(await r.hGet('apikey:key:' + k.digest, 'limit'),
                     written);
        assert.equal(await r.hGet('apikey:key:' + d, 'limit'), written);
    }
    const two = await iss.create({ limit: '2/s 100/h' });
    assert.equal(await statusBecomes(two.key, 200), 200);
    const codes = [];
    for (let i = 0; i < 3; i++) {
        codes.push((await request(two.key))[0]);
    }
    assert.ok(codes.includes(429), JSON.stringify(codes));
});

test('grants of limited keys decide', async () => {
    const k = await iss.create({ access: 'limited', grants: ['orders:rw'] });
    const ro = await iss.create({ access: 'limited', grants: ['orders:r'] });
    assert.equal(await statusBecomes(k.key, 200, 'POST', '/orders/1'), 200);
    assert.equal(await statusBecomes(ro.key, 200, 'GET', '/orders/1'), 200);
    assert.equal((await request(ro.key, 'POST', '/orders/1'))[0], 403);
});

test('inactive, expired, address and limit', async () => {
    const off = await iss.create({ active: false });
    const old = await iss.create({ expires: 1000000000 });
    const far = await iss.create({ ips: ['192.0.2.0/24'] });
    const one = await iss.create({ limit: 1 });
    const ok = await iss.create();
    assert.equal(await statusBecomes(ok.key, 200), 200);
    assert.equal((await request(off.key))[0], 401);
    assert.deepEqual(await request(old.key),
                     [401, '{"detail":"API key expired"}']);
    assert.equal((await request(far.key))[0], 403);
    assert.equal((await request(one.key))[0], 200);
    assert.equal((await request(one.key))[0], 429);
});

test('rotate keeps the old key for the grace period', async () => {
    const k = await iss.create({ owner: 'rot' });
    assert.equal(await statusBecomes(k.key, 200), 200);
    const t0 = Math.floor(Date.now() / 1000);
    const n = await iss.rotate(k.id, { grace: 3600 });
    const t1 = Math.floor(Date.now() / 1000);
    const old = 'apikey:key:' + k.digest;
    const dep = Number(await r.hGet(old, 'deprecated'));
    assert.ok(t0 <= dep && dep <= t1, `${t0} ${dep} ${t1}`);
    assert.equal(Number(await r.hGet(old, 'expires')), dep + 3600);
    assert.equal(await r.hExists('apikey:key:' + n.digest, 'deprecated'),
                 false);
    /* a second rotation keeps the first deprecation; its key is not */
    await r.hSet(old, 'deprecated', String(dep - 100));
    const n2 = await iss.rotate(k.id, { grace: 3600 });
    assert.equal(Number(await r.hGet(old, 'deprecated')), dep - 100);
    assert.equal(await r.hExists('apikey:key:' + n2.digest, 'deprecated'),
                 false);
    assert.notEqual(n.id, k.id);
    assert.equal(await statusBecomes(n.key, 200), 200);
    assert.equal((await request(k.key))[0], 200);
    assert.equal(await r.hGet('apikey:key:' + n.digest, 'rotated_from'),
                 k.id);
    const m = await iss.rotate(n.id, { grace: 0 });
    assert.equal(await statusBecomes(m.key, 200), 200);
    assert.equal(await statusBecomes(n.key, 401), 401);
});

test('delete refuses the key', async () => {
    const k = await iss.create();
    assert.equal(await statusBecomes(k.key, 200), 200);
    assert.equal(await iss.delete(k.id), k.digest);
    assert.equal(await statusBecomes(k.key, 401), 401);
    assert.equal(await r.exists('apikey:id:' + k.id), 0);
    await assert.rejects(iss.delete(k.id), UnknownIdError);
});

test('unknown ids', async () => {
    await assert.rejects(iss.revoke('no-such-id'), UnknownIdError);
    await assert.rejects(iss.rotate('no-such-id'), UnknownIdError);
    await assert.rejects(iss.delete('no-such-id'), UnknownIdError);
});

test('an existing id is refused', async () => {
    await iss.create({ id: 'js-dup' });
    await assert.rejects(iss.create({ id: 'js-dup' }), RangeError);
});

test('bad values are refused before anything is written', async () => {
    const before = await r.dbSize();
    const bad = [{ keyPrefix: 'k'.repeat(219) }, { keyPrefix: 'tk:' },
                 { id: 'a b' }, { owner: 'a\nb' }, { name: 'n'.repeat(256) },
                 { access: 'admin' }, { grants: ['users:r'] },
                 { access: 'limited', grants: ['users:x'] },
                 { access: 'limited', grants: ['a b:r'] },
                 { access: 'limited', grants: [':r'] },
                 { expires: 2 ** 32 }, { expires: -1 },
                 { limit: 4294967281 }, { limit: 'lots' },
                 { limit: '5/s 6/s' }, { limit: '1000001/s' },
                 { limit: '5/w' }, { limit: '' }, { limit: '5/s,6/h' },
                 { limit: '10 5/h' }, { limit: 'unlimited 5/s' },
                 { ips: ['10.0.0.1/8'] }, { ips: ['010.0.0.0/8'] },
                 { ips: ['10.0.0.0/33'] }, { ips: ['::1/129'] },
                 { ips: Array(65).fill('10.0.0.0/8') }, { ips: ['foo'] }];
    for (const b of bad) {
        await assert.rejects(iss.create(b), RangeError, JSON.stringify(b));
    }
    assert.equal(await r.dbSize(), before);
});

test('the longest key prefix is the module\'s', async () => {
    const k = await iss.create({ keyPrefix: 'taapit_' + 'x'.repeat(211) });
    assert.equal(k.key.length, 256);
    assert.equal(await statusBecomes(k.key, 200), 200);
});

test('the change log and the epoch', async () => {
    const k = await iss.create();
    const epoch = await r.get('apikey:epoch');
    assert.match(epoch, /^[0-9a-f]{32}$/);
    await iss.revoke(k.id);
    const n = await iss.rotate(k.id, { grace: 60 });
    await iss.delete(n.id);
    const tail = (await r.xRange('apikey:changes', '-', '+')).slice(-5);
    assert.deepEqual(tail.map((e) => ({ ...e.message })),
                     [k.digest, k.digest, n.digest, k.digest, n.digest]
                         .map((d) => ({ d })));
    assert.equal(await r.get('apikey:epoch'), epoch);
});

test('another prefix, no hash secret', async () => {
    const other = new Issuer(r, { prefix: 'other:', keyPrefix: 'sk_' });
    const k = await other.create({ id: 'jo1' });
    assert.equal(await r.get('other:id:jo1'), k.digest);
    assert.equal(k.digest, digest(k.key));
    assert.equal((await request(k.key))[0], 401);
    await other.delete('jo1');
});
