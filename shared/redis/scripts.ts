import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const LUA_DIR = new URL('./lua/', import.meta.url);

/** Script name → number of KEYS it takes (its contract header lists them); null: any number. */
const SCRIPTS = {
  admit: 9,
  reserve: null,
  settle: 7,
  release: 7,
  sweep: 6,
  'init-product': 6,
  'update-product': 6,
  'set-fields': 1,
  'restore-holds': 6,
} as const satisfies Record<string, number | null>;

export type ScriptName = keyof typeof SCRIPTS;

/** Reads a script and inlines its `--- @include "name"` lines from `lua/includes/`. */
export function loadLua(name: string): string {
  const source = readFileSync(new URL(`${name}.lua`, LUA_DIR), 'utf8');
  return source.replace(/^--- @include "([a-z-]+)"$/gm, (_, inc: string) =>
    readFileSync(new URL(`includes/${inc}.lua`, LUA_DIR), 'utf8'),
  );
}

type Reply = string | number | null | Reply[];

/**
 * The project's Lua scripts, registered once per connection with `defineCommand`
 * (EVALSHA, falling back to EVAL after a script flush).
 */
export class Scripts {
  private readonly redis: Redis;

  constructor(redis: Redis) {
    this.redis = redis;
    for (const [name, numberOfKeys] of Object.entries(SCRIPTS)) {
      redis.defineCommand(commandName(name), { numberOfKeys: numberOfKeys ?? undefined, lua: loadLua(name) });
    }
  }

  run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<Reply> {
    const expected: number | null = SCRIPTS[name];
    if (expected !== null && keys.length !== expected) throw new Error(`${name} takes ${expected} keys, got ${keys.length}`);
    const command = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<Reply>>)[
      commandName(name)
    ];
    // A script that takes any number of keys is told how many come first.
    return expected === null ? command.call(this.redis, keys.length, ...keys, ...args) : command.call(this.redis, ...keys, ...args);
  }
}

const commandName = (name: string) => `drop_${name.replace(/-/g, '_')}`;

/**
 * Sets fields of a ticket (guard `status`) or product hash (guard `total`) only while it
 * still exists (set-fields.lua); false when Redis no longer has it.
 */
export async function setExisting(scripts: Scripts, key: string, guard: 'status' | 'total', fields: Record<string, string | number>): Promise<boolean> {
  return (await scripts.run('set-fields', [key], [guard, ...Object.entries(fields).flat()])) === 1;
}
