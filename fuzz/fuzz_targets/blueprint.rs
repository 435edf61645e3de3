//! The blueprint file parser and cron schedules: any input either errors
//! or yields a blueprint; a schedule that parses computes its next times
//! without panicking or going backwards.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(b) = blueprints::Blueprint::parse(text, "fuzz.toml") {
        let _ = format!("{b:?}");
    }
    // The first line doubles as a schedule expression.
    let expr = text.lines().next().unwrap_or_default();
    if let Ok(s) = blueprints::Schedule::parse(expr) {
        let mut t = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        for _ in 0..4 {
            match s.next_after(t) {
                Some(next) => {
                    assert!(next > t, "{expr}: {next} is not after {t}");
                    t = next;
                }
                None => break,
            }
        }
    }
});
