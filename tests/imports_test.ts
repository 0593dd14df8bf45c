/**
 * The module graph of src/ has no cycle, code or type: a cycle makes the
 * order files load in matter and hides which part depends on which.
 */

import * as assert from "node:assert/strict";

interface Dependency {
  code?: { specifier?: string };
  type?: { specifier?: string };
}
interface ModuleInfo {
  specifier: string;
  dependencies?: Dependency[];
}

/** The imports among src/ files, as `deno info --json mod.ts` reports them (paths relative to src/). */
async function srcGraph(): Promise<Map<string, string[]>> {
  const root = new URL("../", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "mod.ts"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: ModuleInfo[] };
  const src = new URL("src/", root).href;
  const graph = new Map<string, string[]>();
  for (const m of info.modules) {
    if (!m.specifier.startsWith(src)) continue;
    const deps = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((s): s is string => s !== undefined && s.startsWith(src))
      .map((s) => s.slice(src.length));
    graph.set(m.specifier.slice(src.length), [...new Set(deps)]);
  }
  return graph;
}

/** Strongly connected components with more than one module, or a module importing itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)!.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("imports: no cycle among src/ modules (code or type)", async () => {
  const graph = await srcGraph();
  assert.ok(graph.size > 50, `only ${graph.size} src/ modules found`);
  assert.deepEqual(cycles(graph), []);
});

Deno.test("imports: the cycle finder finds a cycle", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts", "a.ts"]], ["c.ts", []]]);
  assert.deepEqual(cycles(graph), [["a.ts", "b.ts"]]);
});
