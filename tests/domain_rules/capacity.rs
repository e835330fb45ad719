//! Capacity: given/when/then.

use super::*;

#[test]
fn declare_capacity() {
    let mut s = Scenario::new().member("ann").member("bob").observer("obs");
    let (fac, ann, bob, obs) = (s.fac, s.id("ann"), s.id("bob"), s.id("obs"));
    s.try_do(ann, declare(1000, 80))
        .then_kinds(&["CapacityDeclared"]);
    let c = s.state.participants[&ann].capacity.clone().unwrap();
    assert_eq!((c.available_days, c.focus_factor), (f(1000), f(80)));
    let for_bob = Command::DeclareCapacity(DeclareCapacity {
        participant: Some(bob),
        available_days: f(500),
        focus_factor: f(100),
        notes: Some("on call".into()),
    });
    s.when(ann, for_bob.clone()).then_error("forbidden");
    s.when(fac, for_bob).then_kinds(&["CapacityDeclared"]);
    s.when(obs, declare(100, 100)).then_error("forbidden");
    s.when(
        fac,
        Command::DeclareCapacity(DeclareCapacity {
            participant: Some(obs),
            available_days: f(100),
            focus_factor: f(100),
            notes: None,
        }),
    )
    .then_error("invalid");
    s.when(
        fac,
        Command::DeclareCapacity(DeclareCapacity {
            participant: Some(unknown_person()),
            available_days: f(100),
            focus_factor: f(100),
            notes: None,
        }),
    )
    .then_error("unknown_participant");
    for bad in [
        declare(-1, 100),
        declare(36_601, 100),
        declare(100, 101),
        declare(100, -1),
    ] {
        s.when(ann, bad).then_error("out_of_range");
    }
    s.when(ann, declare(36_600, 0))
        .then_kinds(&["CapacityDeclared"]);
}

#[test]
fn velocity() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let v = |h| {
        Command::SetVelocity(SetVelocity {
            points_per_day: f(h),
        })
    };
    s.when(ann, v(100)).then_error("forbidden");
    s.when(fac, v(0)).then_error("out_of_range");
    s.when(fac, v(100_001)).then_error("out_of_range");
    s.try_do(fac, v(150)).then_kinds(&["VelocitySet"]);
    assert_eq!(s.state.velocity, Some(f(150)));
}

#[test]
fn capacity_is_sum_of_days_times_focus_times_velocity() {
    let mut s = Scenario::new().member("ann").member("bob").member("cat");
    let (fac, ann, bob, cat) = (s.fac, s.id("ann"), s.id("bob"), s.id("cat"));
    assert_eq!(s.state.capacity_points(), Fixed2::ZERO);
    s.given(ann, declare(1000, 80)); // 8
    s.given(bob, declare(850, 50)); // 4.25
    s.given(fac, declare(500, 100)); // 5 (a facilitator who works in the sprint counts)
    s.given(cat, declare(300, 100)); // 3
                                     // No velocity yet: zero points.
    assert_eq!(s.state.capacity_points(), Fixed2::ZERO);
    s.given(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: f(150),
        }),
    );
    // (8 + 4.25 + 5 + 3) × 1.5 = 30.375 → 30.38
    assert_eq!(s.state.capacity_points(), f(3038));
    // A removed member and a member moved to observer no longer count.
    s.given(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: cat }),
    );
    s.given(
        fac,
        Command::ChangeRole(ChangeRole {
            participant: bob,
            role: Role::Observer,
        }),
    );
    // (8 + 5) × 1.5
    assert_eq!(s.state.capacity_points(), f(1950));
}
