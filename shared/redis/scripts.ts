import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

const LUA_DIR = new URL('./lua/', import.meta.url);

/** Script name → number of KEYS it takes (its contract header lists them). */
const SCRIPTS = {
  admit: 9,
  reserve: 7,
  settle: 7,
  release: 7,
  sweep: 6,
  'init-product': 6,
  'update-product': 6,
} as const;

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
      redis.defineCommand(commandName(name), { numberOfKeys, lua: loadLua(name) });
    }
  }

  run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<Reply> {
    if (keys.length !== SCRIPTS[name]) throw new Error(`${name} takes ${SCRIPTS[name]} keys, got ${keys.length}`);
    const command = (this.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<Reply>>)[
      commandName(name)
    ];
    return command.call(this.redis, ...keys, ...args);
  }
}

const commandName = (name: string) => `drop_${name.replace(/-/g, '_')}`;
