//! Concerns about a child's welfare (DESIGN.md S1–S4, issue 26): the kinds a DSL records beside
//! the sanctions tables' misuse, each with the actions that usually follow it. A suicidal
//! search is a welfare concern, not a misuse of the network: it is answered with a review by
//! the DSL, a safety plan and a referral, not a warning and a lesson.
//!
//! The kinds and actions follow Keeping children safe in education (the categories of abuse and
//! the specific safeguarding issues it names) and the services an English school refers to.
//! They are the same for every school, so they are code; which actions a school takes is its
//! own record.

/// A kind of welfare concern.
#[derive(Debug, PartialEq, Eq)]
pub struct ConcernType {
    /// Its id, stored as the incident's kind.
    pub id: &'static str,
    /// Its name.
    pub title: &'static str,
    /// What to keep in mind, shown on the record.
    pub guidance: &'static str,
    /// The actions usually taken, by id ([`WELFARE_ACTIONS`]), in the order they are done.
    pub actions: &'static [&'static str],
}

/// Something done about a welfare concern.
#[derive(Debug, PartialEq, Eq)]
pub struct WelfareAction {
    /// Its id, stored with the entry.
    pub id: &'static str,
    /// Its name.
    pub title: &'static str,
}

/// What can be done about a welfare concern: reviews, referrals, the parents, support.
pub const WELFARE_ACTIONS: &[WelfareAction] = &[
    WelfareAction {
        id: "dsl-review",
        title: "Reviewed by the designated safeguarding lead",
    },
    WelfareAction {
        id: "talk-to-child",
        title: "Talked with the child (their words recorded)",
    },
    WelfareAction {
        id: "referral-social-care",
        title: "Referral to children's social care (MASH)",
    },
    WelfareAction {
        id: "early-help",
        title: "Early Help assessment or referral",
    },
    WelfareAction {
        id: "channel",
        title: "Prevent referral (Channel)",
    },
    WelfareAction {
        id: "police",
        title: "Reported to the police",
    },
    WelfareAction {
        id: "ceop",
        title: "Reported to CEOP",
    },
    WelfareAction {
        id: "camhs",
        title: "Referral to CAMHS or a mental health service",
    },
    WelfareAction {
        id: "school-nurse",
        title: "School nurse or GP involved",
    },
    WelfareAction {
        id: "safety-plan",
        title: "Safety plan agreed with the child",
    },
    WelfareAction {
        id: "pastoral-support",
        title: "Pastoral support in school (mentor, counsellor)",
    },
    WelfareAction {
        id: "parents-informed",
        title: "Parents or carers informed",
    },
    WelfareAction {
        id: "attendance-officer",
        title: "Education welfare or attendance officer told",
    },
    WelfareAction {
        id: "remove-content",
        title: "Content reported for removal (Report Remove, the platform)",
    },
    WelfareAction {
        id: "review-date",
        title: "Review date set",
    },
];

/// The kinds of welfare concern, in the order a form lists them.
pub const CONCERN_TYPES: &[ConcernType] = &[
    ConcernType {
        id: "suicidal-thoughts",
        title: "Suicidal thoughts",
        guidance: "If the child may act on it now, do not leave them alone and call 999. \
                   Ask directly and listen; do not promise to keep it secret.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "safety-plan",
            "camhs",
            "parents-informed",
            "review-date",
        ],
    },
    ConcernType {
        id: "self-harm",
        title: "Self-harm",
        guidance: "Injuries needing care go to the school nurse, GP or A&E first.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "safety-plan",
            "school-nurse",
            "camhs",
            "parents-informed",
            "review-date",
        ],
    },
    ConcernType {
        id: "abuse-disclosed",
        title: "Abuse disclosed (physical, emotional or sexual)",
        guidance: "Listen, write down the child's own words, do not ask leading questions. \
                   Telling the parents may put the child at risk: ask social care first.",
        actions: &["dsl-review", "referral-social-care", "police"],
    },
    ConcernType {
        id: "grooming",
        title: "Online grooming",
        guidance: "Keep the evidence (screenshots of what was seen, not the images \
                   themselves) and do not contact the other person.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "ceop",
            "police",
            "referral-social-care",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "sexual-exploitation",
        title: "Child sexual exploitation",
        guidance: "Never view, copy or send an indecent image of a child, even as evidence.",
        actions: &[
            "dsl-review",
            "referral-social-care",
            "police",
            "remove-content",
        ],
    },
    ConcernType {
        id: "nudes-shared",
        title: "Nudes or semi-nudes shared",
        guidance: "Do not view, copy or send the images. Follow the UKCIS guidance on sharing \
                   nudes and semi-nudes.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "remove-content",
            "parents-informed",
            "referral-social-care",
            "police",
        ],
    },
    ConcernType {
        id: "criminal-exploitation",
        title: "Criminal exploitation (county lines, weapons)",
        guidance: "Being asked to carry packages, money or weapons is exploitation, not only \
                   crime.",
        actions: &[
            "dsl-review",
            "referral-social-care",
            "police",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "radicalisation",
        title: "Radicalisation",
        guidance: "The Prevent duty: talk with the DSL before a Channel referral.",
        actions: &["dsl-review", "talk-to-child", "channel", "parents-informed"],
    },
    ConcernType {
        id: "bullying-victim",
        title: "Bullying (the child is being bullied)",
        guidance: "Keep evidence of online bullying (screenshots, dates).",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "pastoral-support",
            "parents-informed",
            "review-date",
        ],
    },
    ConcernType {
        id: "child-on-child",
        title: "Child-on-child abuse (harassment, sexual violence)",
        guidance: "Support the children involved, both those harmed and those who harmed.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "referral-social-care",
            "police",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "mental-health",
        title: "Mental health (anxiety, low mood, eating)",
        guidance: "Only trained professionals diagnose: record what was seen and heard.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "pastoral-support",
            "school-nurse",
            "camhs",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "substance-misuse",
        title: "Drugs or alcohol",
        guidance: "Ask whether someone older is supplying them: that may be exploitation.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "early-help",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "neglect",
        title: "Neglect",
        guidance: "Small signs add up: record each one, with dates.",
        actions: &["dsl-review", "early-help", "referral-social-care"],
    },
    ConcernType {
        id: "domestic-abuse",
        title: "Domestic abuse at home",
        guidance: "Operation Encompass notifications belong here too.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "pastoral-support",
            "referral-social-care",
        ],
    },
    ConcernType {
        id: "missing-education",
        title: "Missing from education",
        guidance: "Repeated or unexplained absence can be a sign of abuse or exploitation.",
        actions: &["dsl-review", "attendance-officer", "referral-social-care"],
    },
    ConcernType {
        id: "harmful-content-seen",
        title: "Upset by something seen online",
        guidance: "Reassure the child that telling was right.",
        actions: &[
            "dsl-review",
            "talk-to-child",
            "remove-content",
            "parents-informed",
        ],
    },
    ConcernType {
        id: "other",
        title: "Another welfare concern",
        guidance: "Say what worries you in the child's own words where you can.",
        actions: &["dsl-review", "talk-to-child"],
    },
];

/// The concern type with this id.
pub fn concern_type(id: &str) -> Option<&'static ConcernType> {
    CONCERN_TYPES.iter().find(|kind| kind.id == id)
}

/// The welfare action with this id.
pub fn welfare_action(id: &str) -> Option<&'static WelfareAction> {
    WELFARE_ACTIONS.iter().find(|action| action.id == id)
}

/// The welfare concern an alert of this risk-detection category suggests, when its subject is
/// a pupil: what they searched for, read or wrote is about their own welfare. Categories of
/// misuse (adult content, gambling, hate, another's bullying) suggest none: the sanctions
/// tables' kinds fit them.
pub fn concern_for_alert(category: &str) -> Option<&'static ConcernType> {
    let id = match category {
        "self-harm" => "suicidal-thoughts",
        "abuse" => "abuse-disclosed",
        "grooming" => "grooming",
        "extremism" => "radicalisation",
        "help-seeking" | "concern" => "other",
        _ => return None,
    };
    concern_type(id)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_suggested_action_exists_and_ids_are_unique() {
        let mut kinds = HashSet::new();
        for kind in CONCERN_TYPES {
            assert!(kinds.insert(kind.id), "{} twice", kind.id);
            assert!(!kind.actions.is_empty(), "{} suggests nothing", kind.id);
            for action in kind.actions {
                assert!(
                    welfare_action(action).is_some(),
                    "{} suggests unknown {action}",
                    kind.id
                );
            }
        }
        let mut actions = HashSet::new();
        for action in WELFARE_ACTIONS {
            assert!(actions.insert(action.id), "{} twice", action.id);
        }
    }

    #[test]
    fn a_suicidal_search_suggests_a_review_a_safety_plan_and_camhs_not_a_warning() {
        let kind = concern_for_alert("self-harm").expect("a welfare concern");
        assert_eq!(kind.id, "suicidal-thoughts");
        for wanted in ["dsl-review", "safety-plan", "camhs"] {
            assert!(kind.actions.contains(&wanted), "{wanted}");
        }
        assert!(
            concern_for_alert("gambling").is_none(),
            "misuse is not welfare"
        );
    }

    #[test]
    fn a_disclosure_of_abuse_does_not_suggest_telling_the_parents() {
        let kind = concern_type("abuse-disclosed").expect("abuse disclosed");
        assert!(!kind.actions.contains(&"parents-informed"));
        assert!(kind.actions.contains(&"referral-social-care"));
    }
}
