import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The tree as the architecture: door (api/) → rules (shared/domain/<feature>/) → data
 * (shared/db, shared/redis, shared/queues, shared/payments) → settlement (workers/), read
 * from the imports themselves (type-only imports included: they are dependencies too).
 */
const ROOT = resolve(import.meta.dirname, '..');
const SOURCES = ['api', 'shared', 'workers', 'dashboards', 'scripts'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of every source file, resolved to a file of the tree. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCES.flatMap((d) => sourceFiles(join(ROOT, d)))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    const targets: string[] = [];
    source.forEachChild((node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const spec = node.moduleSpecifier.text;
        if (spec.startsWith('.')) targets.push(resolve(dirname(file), spec));
      }
    });
    graph.set(rel(file), targets.map(rel));
  }
  return graph;
}

const rel = (path: string) => relative(ROOT, path);

/** Every cycle (as the path that closes it), found by a depth-first walk. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

/** The top folder of a file, with shared/ split into its parts (shared/domain, shared/db, ...). */
function area(file: string): string {
  const [top, second] = file.split('/');
  return top === 'shared' && second && !second.endsWith('.ts') ? `shared/${second}` : top;
}

describe('the rules (shared/domain)', () => {
  it('reach Redis and MySQL only through the stores, scripts and repositories passed in, and BullMQ only through the queues', () => {
    const raw = /from 'ioredis'|from 'bullmq'|from '@mikro-orm|\.em\.|getConnection\(|\.execute\(|deps\.(redis|queueRedis|providerRedis|orm)\b/;
    const offenders = sourceFiles(join(ROOT, 'shared/domain'))
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').map((line, i) => ({ file: rel(file), line: i + 1, text: line.trim() })))
      .filter((l) => raw.test(l.text) && !l.text.startsWith('*') && !l.text.startsWith('//'));
    expect(offenders).toEqual([]);
  });

  it('keep each file short enough to read in one sitting', () => {
    const long = SOURCES.flatMap((d) => sourceFiles(join(ROOT, d)))
      .map((file) => ({ file: rel(file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 220 && !LONG_FILES.has(f.file));
    expect(long).toEqual([]);
  });
});

/** Files longer than about 200 lines, each with the reason it is one file. */
const LONG_FILES = new Map([
  ['shared/redis/scripts.ts', 'one typed method for each Lua script, with its parameter and result types, as BullMQ keeps its scripts.ts'],
  ['shared/metrics.ts', 'every Prometheus series of the system in one table, as dashboards/README.md lists them'],
]);

describe('the import graph', () => {
  const graph = importGraph();

  it('reads the whole tree', () => {
    expect(graph.size).toBeGreaterThan(50);
    for (const [file, targets] of graph) for (const t of targets) expect({ file, import: t, exists: graph.has(t) }).toEqual({ file, import: t, exists: true });
  });

  it('has no import cycle', () => {
    expect(cycles(graph).map((c) => c.join(' → '))).toEqual([]);
  });

  it('points one way between areas: nothing below imports the door, the dashboards or the workers', () => {
    const forbidden: Record<string, string[]> = {
      shared: ['api', 'workers', 'dashboards', 'scripts'],
      dashboards: ['api', 'workers'],
      workers: ['api', 'dashboards'],
      'shared/db': ['shared/domain'],
      'shared/redis': ['shared/domain'],
      'shared/queues': ['shared/domain'],
      'shared/payments': ['shared/domain'],
    };
    const wrong: string[] = [];
    for (const [file, targets] of graph) {
      const from = area(file);
      for (const t of targets) {
        const to = area(t);
        const rules = [...(forbidden[from] ?? []), ...(from.startsWith('shared/') ? forbidden.shared : [])];
        if (rules.some((r) => to === r || to.startsWith(`${r}/`))) wrong.push(`${file} → ${t}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
