'use strict';
/*
 * Issue, revoke, rotate and delete keys for ngx_http_apikey_module from a
 * node application, writing its Redis schema (docs/keys.md) exactly as
 * apikeyctl does: each change is one MULTI/EXEC, guarded by WATCH on an
 * isolated connection, that writes the record and its id string,
 * publishes the digest on <prefix>events and appends it to the change log,
 * the stream <prefix>changes ("d <digest>", trimmed to about
 * CHANGES_MAXLEN entries), naming the dataset with
 * SET <prefix>epoch <random> NX if no writer did yet.
 */

const crypto = require('node:crypto');
const { WatchError } = require('redis');
const schema = require('./schema');

const ATTEMPTS = 8;
const CHANGES_MAXLEN = '100000';

class UnknownIdError extends Error {
    constructor(id) {
        super(`unknown id ${JSON.stringify(id)}`);
        this.name = 'UnknownIdError';
        this.id = id;
    }
}

class ConflictError extends Error {
    constructor() {
        super('the keys kept changing; nothing written');
        this.name = 'ConflictError';
    }
}

class Issuer {
    /*
     * client: a connected node-redis v4 client (createClient()).
     * prefix: apikey_redis ... prefix= (default "apikey:"); hashSecret:
     * the bytes of apikey_hash_secret (a Buffer) or null; keyPrefix: the
     * start of every key made (apikey_prefix).
     */
    constructor(client, { prefix = 'apikey:', hashSecret = null,
                          keyPrefix = 'taapit_' } = {}) {
        schema.checkPrefix(prefix);
        schema.checkSecret(hashSecret);
        schema.checkKeyPrefix(keyPrefix);
        this.r = client;
        this.prefix = prefix;
        this.secret = hashSecret;
        this.keyPrefix = keyPrefix;
    }

    static readSecret(path) {
        return schema.readSecret(path);
    }

    digest(key) {
        return schema.digest(key, this.secret);
    }

    name(kind, part = '') {
        return this.prefix + kind + part;
    }

    /*
     * MULTI, the commands, then for each PUBLISH its change log entry, and
     * the epoch if there is none; EXEC (a WatchError: retry)
     */
    async exec(c, cmds) {
        const m = c.multi();
        const log = cmds.filter((x) => x[0] === 'PUBLISH')
            .map((x) => ['XADD', this.name('changes'), 'MAXLEN', '~',
                         CHANGES_MAXLEN, '*', 'd', x[2]]);
        for (const x of cmds.concat(log)) {
            m.addCommand(x);
        }
        if (log.length) {
            m.addCommand(['SET', this.name('epoch'),
                          crypto.randomBytes(16).toString('hex'), 'NX']);
        }
        await m.exec();
    }

    /* runs fn(isolated client) until its EXEC is not aborted by a WATCH */
    async retry(fn) {
        for (let i = 0; i < ATTEMPTS; i++) {
            try {
                const out = await this.r.executeIsolated(fn);
                if (out !== undefined) {
                    return out;
                }
            } catch (e) {
                if (!(e instanceof WatchError)) {
                    throw e;
                }
            }
        }
        throw new ConflictError();
    }

    /*
     * A new key and its record: {id, key, digest}.  Show key to its user
     * once; keep id.  expires: unix seconds (0 or absent: never); limit:
     * requests per hour, "unlimited", or terms such as "20/s 1000/h"; ips:
     * CIDRs.
     */
    async create({ id, owner, name, access = 'full', grants, expires, limit,
                   ips, active = true, keyPrefix } = {}) {
        keyPrefix = keyPrefix === undefined ? this.keyPrefix : keyPrefix;
        schema.checkKeyPrefix(keyPrefix);
        if (id !== undefined) {
            schema.checkId(id, true);
        }
        if (owner !== undefined) {
            schema.checkText('owner', owner);
        }
        if (name !== undefined) {
            schema.checkText('name', name);
        }
        schema.checkAccess(access);
        if (grants && grants.length && access !== 'limited') {
            throw new RangeError('grants need access "limited"');
        }
        if (expires !== undefined) {
            schema.checkExpires(expires);
        }

        /* the fields in apikeyctl's order, so that the hashes are alike */
        const fields = [];
        if (owner !== undefined) {
            fields.push('owner', owner);
        }
        if (name !== undefined) {
            fields.push('name', name);
        }
        fields.push('access', access);
        if (grants && grants.length) {
            fields.push('grants', schema.grantsText(grants));
        }
        if (expires) {
            fields.push('expires', String(expires));
        }
        fields.push('active', active ? '1' : '0');
        if (limit !== undefined && limit !== null) {
            fields.push('limit', schema.limitText(limit));
        }
        if (ips && ips.length) {
            fields.push('ips', schema.ipsText(ips));
        }

        const events = this.name('events');

        return this.retry(async (c) => {
            const kid = id === undefined ? schema.newId() : id;
            const key = schema.makeKey(keyPrefix);
            const d = this.digest(key);
            const rname = this.name('key:', d);
            const iname = this.name('id:', kid);

            await c.watch([iname, rname]);
            if (await c.exists(iname)) {
                await c.unwatch();
                if (id !== undefined) {
                    throw new RangeError(`id ${JSON.stringify(id)} already `
                                         + 'exists');
                }
                return undefined;
            }
            if (await c.exists(rname)) {
                await c.unwatch();
                return undefined;
            }
            await this.exec(c, [['HSET', rname, 'id', kid, ...fields],
                                ['SET', iname, d],
                                ['PUBLISH', events, d]]);
            return { id: kid, key, digest: d };
        });
    }

    /*
     * WATCHes the id string and the record: the digest, or "" when the id
     * string points to no record of that id
     */
    async lookup(c, kid) {
        schema.checkId(kid);
        const iname = this.name('id:', kid);
        await c.watch(iname);
        const d = await c.get(iname);
        if (d === null) {
            await c.unwatch();
            throw new UnknownIdError(kid);
        }
        if (!/^[0-9a-f]{64}$/.test(d)) {
            return '';
        }
        const rname = this.name('key:', d);
        await c.watch(rname);
        if (await c.hGet(rname, 'id') !== kid) {
            return '';
        }
        return d;
    }

    /* active=0: the key is refused everywhere; resolves to its digest */
    async revoke(kid) {
        return this.retry(async (c) => {
            const d = await this.lookup(c, kid);
            if (!d) {
                await c.unwatch();
                throw new UnknownIdError(kid);
            }
            await this.exec(c, [['HSET', this.name('key:', d), 'active', '0'],
                                ['PUBLISH', this.name('events'), d]]);
            return d;
        });
    }

    /*
     * removes the record and its id string; resolves to the digest ("" if
     * the id string pointed to no record, and only it was removed)
     */
    async delete(kid) {
        return this.retry(async (c) => {
            const d = await this.lookup(c, kid);
            const iname = this.name('id:', kid);
            await this.exec(c, d ? [['DEL', this.name('key:', d)],
                                    ['DEL', iname],
                                    ['PUBLISH', this.name('events'), d]]
                                 : [['DEL', iname]]);
            return d;
        });
    }

    /*
     * A new key with the same record, a new id and rotated_from; the old
     * key expires after grace seconds (or keeps its own expiry if sooner),
     * and its deprecated field says when it was replaced (now, or its
     * first rotation).
     * expires: the new key's, replacing the copied one (0: never).
     * Resolves to {id, key, digest} of the new key.
     */
    async rotate(kid, { grace = 86400, expires, keyPrefix } = {}) {
        keyPrefix = keyPrefix === undefined ? this.keyPrefix : keyPrefix;
        schema.checkKeyPrefix(keyPrefix);
        if (!Number.isInteger(grace) || grace < 0) {
            throw new RangeError(`invalid grace ${grace}: seconds`);
        }
        if (expires !== undefined) {
            schema.checkExpires(expires);
        }
        const events = this.name('events');

        return this.retry(async (c) => {
            const d = await this.lookup(c, kid);
            if (!d) {
                await c.unwatch();
                throw new UnknownIdError(kid);
            }
            const rname = this.name('key:', d);
            const old = await c.sendCommand(['HGETALL', rname]);
            if (!old || old.length === 0) {
                await c.unwatch();
                throw new UnknownIdError(kid);
            }

            const now = Math.floor(Date.now() / 1000);
            let until = now + grace;
            let since = now;
            for (let i = 0; i + 1 < old.length; i += 2) {
                if (!/^[0-9]{1,10}$/.test(old[i + 1])) {
                    continue;
                }
                const t = Number(old[i + 1]);
                if (old[i] === 'expires' && t > 0 && t < until) {
                    until = t;
                }
                if (old[i] === 'deprecated' && t > 0 && t < since) {
                    since = t;
                }
            }

            const nid = schema.newId();
            const key = schema.makeKey(keyPrefix);
            const nd = this.digest(key);
            const nrname = this.name('key:', nd);
            const niname = this.name('id:', nid);
            await c.watch([niname, nrname]);
            if (await c.exists([niname, nrname])) {
                await c.unwatch();
                return undefined;
            }

            const fields = ['id', nid];
            for (let i = 0; i + 1 < old.length; i += 2) {
                if (old[i] === 'id' || old[i] === 'rotated_from'
                    || old[i] === 'deprecated'
                    || (expires !== undefined && old[i] === 'expires'))
                {
                    continue;
                }
                fields.push(old[i], old[i + 1]);
            }
            if (expires) {
                fields.push('expires', String(expires));
            }
            fields.push('rotated_from', kid);

            await this.exec(c, [['HSET', nrname, ...fields],
                                ['SET', niname, nd],
                                ['HSET', rname, 'expires', String(until),
                                    'deprecated', String(since)],
                                ['PUBLISH', events, nd],
                                ['PUBLISH', events, d]]);
            return { id: nid, key, digest: nd };
        });
    }
}

module.exports = {
    Issuer, UnknownIdError, ConflictError,
    makeKey: schema.makeKey, newId: schema.newId, digest: schema.digest,
    checksum: schema.checksum, checksumValid: schema.checksumValid,
    readSecret: schema.readSecret, schema,
};
