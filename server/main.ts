/**
 * `deno task server`: the server daemon. Not built yet (issue 5); it says so and exits 1.
 *
 * Permissions it needs: none yet.
 *
 * @module
 */

if (import.meta.main) {
  console.error(
    "server: the server daemon is not built yet (see issue 5); run 'deno task broker' or 'deno task demo'",
  );
  Deno.exit(1);
}
