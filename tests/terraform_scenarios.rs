//! Acceptance scenarios: every folder in testdata/scenarios, each with a real
//! Terraform against a real `mcpgate serve`, run in parallel.

mod support;

#[test]
fn every_scenario_passes() {
    if !support::available(&[support::Need::Node, support::Need::Terraform]) {
        return;
    }
    let scenarios = support::scenario::all();
    assert!(scenarios.len() >= 8, "scenarios found: {scenarios:?}");
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = scenarios
            .iter()
            .map(|(name, dir)| {
                let handle =
                    std::thread::Builder::new().name(name.clone()).spawn_scoped(scope, move || support::scenario::run(name, dir)).expect("thread");
                (name.clone(), handle)
            })
            .collect();
        runs.into_iter().filter_map(|(name, handle)| handle.join().err().map(|_| name)).collect()
    });
    assert!(failures.is_empty(), "failed scenarios (see their panics above): {failures:?}");
}
