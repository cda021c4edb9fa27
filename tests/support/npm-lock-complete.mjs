#!/usr/bin/env node
// Checks that npm lock files are complete, before `npm ci` reads them.
//
//   node tests/support/npm-lock-complete.mjs DIR [DIR...]
//
// `npm ci` refuses a lock file that lacks an entry for any optional dependency a locked package
// names, even one built for another platform (rollup, esbuild and the Tauri CLI name dozens). Such
// a lock works on the machine that wrote it and fails on every fresh one, deep inside `npm ci`.
// This check finds that drift first and says what to run. Exit 0: complete; 1: incomplete or
// unreadable, with the reason on stderr.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The lock path `name` resolves to from the package at `from`, as Node resolves modules. */
function resolves(packages, from, name) {
    let base = from;
    for (;;) {
        if (Object.hasOwn(packages, `${base ? `${base}/` : ""}node_modules/${name}`)) {
            return true;
        }
        if (!base) {
            return false;
        }
        const parent = base.lastIndexOf("node_modules/");
        base = parent > 0 ? base.slice(0, parent - 1) : "";
    }
}

/** The optional dependencies named in `lockPath` that have no entry of their own. */
function missingOptional(lockPath) {
    const lock = JSON.parse(readFileSync(lockPath, "utf8"));
    if (!lock.packages || (lock.lockfileVersion ?? 1) < 2) {
        throw new Error("it has no \"packages\" section (lockfileVersion 2 or later)");
    }
    const missing = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
        for (const name of Object.keys(entry.optionalDependencies ?? {})) {
            if (!resolves(lock.packages, path, name)) {
                missing.push(`${name}, named by ${path || "package.json"}`);
            }
        }
    }
    return missing;
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
    console.error("usage: npm-lock-complete.mjs DIR [DIR...]");
    process.exit(2);
}

let complete = true;
for (const dir of dirs) {
    const lockPath = join(dir, "package-lock.json");
    let missing;
    try {
        missing = missingOptional(lockPath);
    } catch (error) {
        console.error(`${lockPath} cannot be read: ${error.message}`);
        complete = false;
        continue;
    }
    if (missing.length > 0) {
        complete = false;
        console.error(`${lockPath} is incomplete: npm ci would refuse it on a fresh machine.`);
        console.error(`It lacks ${missing.length} optional package(s) that locked packages name:`);
        for (const line of missing.slice(0, 10)) {
            console.error(`  ${line}`);
        }
        if (missing.length > 10) {
            console.error(`  ... and ${missing.length - 10} more`);
        }
        console.error(`Fix: (cd ${dir} && npm install --package-lock-only), then commit ${lockPath} whole.`);
    }
}
process.exit(complete ? 0 : 1);
