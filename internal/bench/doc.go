// Package bench runs the tenant-registry workload of WORKLOAD.md (the one
// written to measure the old JavaScript registry) in-process against a
// modelreg.Registry, so the two can be compared row by row.
//
// Run executes the warm-up, W1 (define), W2 (lookups before and after a
// churn of N tenants), W3 (tenant cleanup), W4 (memory and findability
// after cleanup), W5 (long churn with heap samples) and the probes P1–P6,
// with the workload's parameters, xorshift32 sequences and seeds, and
// returns a Result whose JSON form has the keys of the JavaScript harness.
// Result.WriteTable prints the figures next to the old registry's medians.
//
// How the workload's concepts map onto modelreg:
//
//   - the tenant context is modelreg.WithTenant(ctx, code); no tenant
//     context is context.Background();
//   - a tenant's "builder" is the application's own slice of the *Model
//     values that Define returned, dropped after cleanup;
//   - an anonymous model is identified by the *definition.Object a named
//     model's nested property points to (Type.Object, or Elem.Object for
//     the items array), which is the Object of the anonymous *Model that
//     FindByStructure returns.
package bench
