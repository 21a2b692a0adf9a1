/**
 * `deno task chorale`: the chorale CLI. Not built yet (issue 6); it says so and exits 1.
 *
 * Permissions it needs: none yet.
 *
 * @module
 */

if (import.meta.main) {
  console.error(
    "chorale: the chorale CLI is not built yet (see issue 6); run 'deno task broker' or 'deno task demo'",
  );
  Deno.exit(1);
}
