/**
 * `deno task federation`: the federation broker. Not built yet (issue 8); it says so and exits 1.
 *
 * Permissions it needs: none yet.
 *
 * @module
 */

if (import.meta.main) {
  console.error(
    "federation: the federation broker is not built yet (see issue 8); run 'deno task broker' or 'deno task demo'",
  );
  Deno.exit(1);
}
