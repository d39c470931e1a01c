//! The incident procedure of Appendix 1 (DESIGN.md S2), as guided steps: the LA's "Guidance
//! procedure for E-Safety incidents", one for incidents involving pupils and one for incidents
//! involving staff. Each step is a question with fixed answers; which steps apply depends on
//! the answers so far (the flowchart's branches), and the console asks the first unanswered one.
//!
//! The procedure is the same for every school the LA serves, so it is code, not configuration;
//! the record, the answers (with who and when) and corrections to them are kept by the store.

use std::fmt;
use std::str::FromStr;

use crate::{SanctionTable, Sanctions};

/// Whom an incident is about: it decides the procedure and the sanctions table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// A pupil or student.
    Pupil,
    /// A member of staff (an allegation against a member of staff).
    Staff,
}

impl Audience {
    /// The name stored (`pupil`, `staff`).
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Pupil => "pupil",
            Audience::Staff => "staff",
        }
    }

    /// The name shown.
    pub fn label(self) -> &'static str {
        match self {
            Audience::Pupil => "Pupil incident",
            Audience::Staff => "Staff incident",
        }
    }
}

/// Which procedure an incident follows: Appendix 1 for pupils or for staff (misuse: the
/// sanctions tables' kinds), or the welfare procedure for a concern about a child's welfare,
/// which takes Appendix 1's device steps only where illegal material on a device is involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Procedure {
    /// Appendix 1, incidents involving pupils.
    Pupil,
    /// Appendix 1, incidents involving staff.
    Staff,
    /// A concern about a pupil's welfare.
    Welfare,
}

impl Procedure {
    /// The procedure for an incident about `audience`, a welfare concern or not (a welfare
    /// concern is about a pupil: a concern about a member of staff is an allegation, which
    /// follows the staff procedure).
    pub fn of(audience: Audience, welfare: bool) -> Procedure {
        match (audience, welfare) {
            (Audience::Pupil, true) => Procedure::Welfare,
            (Audience::Pupil, false) => Procedure::Pupil,
            (Audience::Staff, _) => Procedure::Staff,
        }
    }

    /// Its steps, in order.
    pub fn steps(self) -> &'static [Step] {
        match self {
            Procedure::Pupil => PUPIL_STEPS,
            Procedure::Staff => STAFF_STEPS,
            Procedure::Welfare => WELFARE_STEPS,
        }
    }

    /// The step with this id.
    pub fn step(self, id: &str) -> Option<&'static Step> {
        self.steps().iter().find(|step| step.id == id)
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names neither audience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither pupil nor staff")]
pub struct BadAudience(pub String);

impl FromStr for Audience {
    type Err = BadAudience;
    fn from_str(text: &str) -> Result<Audience, BadAudience> {
        match text {
            "pupil" => Ok(Audience::Pupil),
            "staff" => Ok(Audience::Staff),
            other => Err(BadAudience(other.to_owned())),
        }
    }
}

impl Sanctions {
    /// The sanctions table for incidents about `audience`.
    pub fn table(&self, audience: Audience) -> &SanctionTable {
        match audience {
            Audience::Pupil => &self.pupil,
            Audience::Staff => &self.staff,
        }
    }
}

/// One step of the procedure.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    /// Its id, stored with the answer.
    pub id: &'static str,
    /// What to do or decide.
    pub question: &'static str,
    /// Why, or how, from the Appendix.
    pub guidance: &'static str,
    /// The step applies only when this earlier step was given this answer.
    pub after: Option<(&'static str, &'static str)>,
    /// The answers it accepts.
    pub answers: &'static [Answer],
}

impl Step {
    /// The answer with this id.
    pub fn answer(&self, id: &str) -> Option<&'static Answer> {
        self.answers.iter().find(|answer| answer.id == id)
    }
}

/// One answer to a step.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// Its id, stored.
    pub id: &'static str,
    /// The button's words.
    pub label: &'static str,
    /// What to do next, shown once it is given (empty when nothing follows from it).
    pub then: &'static str,
    /// What the note must say when this answer is given (the rationale KCSIE asks for, say);
    /// empty when a note is optional.
    pub reason: &'static str,
}

/// The step and answer that mark a child protection concern: the incident is then visible only
/// to the DSL and the headteacher.
pub const CHILD_PROTECTION: (&str, &str) = ("child-protection", "yes");

const DO_NOT_EXAMINE: Step = Step {
    id: "do-not-examine",
    question: "Leave the device as it is: do not examine its files or folders yourself.",
    guidance: "Particularly if illegal material is suspected, a machine should only be examined by \
               those with the appropriate forensic skill, such as the police.",
    after: None,
    answers: &[Answer {
        id: "confirmed",
        label: "Confirmed: nobody has examined the device",
        then: "",
        reason: "",
    }],
};

const INTERVENTION: Step = Step {
    id: "intervention",
    question: "Will the school investigate and log this internally, or is further intervention \
               needed?",
    guidance: "The school may investigate internally and log the incident here. If further \
               intervention is needed, the designated person contacts the managed service \
               provider.",
    after: None,
    answers: &[
        Answer {
            id: "internal",
            label: "Investigated and logged internally",
            then: "Record what was found and the actions taken below.",
            reason: "",
        },
        Answer {
            id: "further",
            label: "Further intervention is needed",
            then: "The designated person contacts the managed service provider.",
            reason: "",
        },
    ],
};

const PROVIDER: Step = Step {
    id: "provider",
    question: "The designated person contacts the managed service provider.",
    guidance: "Note who was contacted and when.",
    after: Some(("intervention", "further")),
    answers: &[Answer {
        id: "contacted",
        label: "Service provider contacted",
        then: "",
        reason: "",
    }],
};

const CONSENT: Step = Step {
    id: "consent",
    question: "The service provider asks for consent to investigate the account's log files \
               (RIPA). Was consent given?",
    guidance: "Note who gave (or refused) consent: the record must show it was asked for.",
    after: Some(("provider", "contacted")),
    answers: &[
        Answer {
            id: "given",
            label: "Consent given",
            then: "The provider investigates the log files and reports to the designated school \
                   contact.",
            reason: "",
        },
        Answer {
            id: "refused",
            label: "Consent refused",
            then: "The log files are not investigated; record the school's own findings below.",
            reason: "",
        },
    ],
};

const ILLEGAL: Step = Step {
    id: "illegal",
    question: "Do the log files contain illegal material?",
    guidance: "Illegal: prohibited by law or by official or accepted rules.",
    after: Some(("consent", "given")),
    answers: &[
        Answer {
            id: "yes",
            label: "Yes: illegal material",
            then: "Contact the local police, making sure the appropriate people in school have \
                   been consulted.",
            reason: "",
        },
        Answer {
            id: "no",
            label: "No",
            then: "",
            reason: "",
        },
    ],
};

const POLICE: Step = Step {
    id: "police",
    question: "Contact the local police, making sure the appropriate people in school have been \
               consulted.",
    guidance: "Note the police reference and whom you consulted.",
    after: Some(("illegal", "yes")),
    answers: &[Answer {
        id: "contacted",
        label: "Police contacted",
        then: "",
        reason: "",
    }],
};

const INAPPROPRIATE: Step = Step {
    id: "inappropriate",
    question: "Do the log files contain inappropriate material?",
    guidance: "Inappropriate: not conforming with accepted standards of propriety or taste; \
               undesirable or incorrect behaviour.",
    after: Some(("illegal", "no")),
    answers: &[
        Answer {
            id: "yes",
            label: "Yes: inappropriate material",
            then: "Contact the service provider for further advice.",
            reason: "",
        },
        Answer {
            id: "no",
            label: "No",
            then: "Nothing further follows from the log files.",
            reason: "",
        },
    ],
};

const PROVIDER_ADVICE: Step = Step {
    id: "provider-advice",
    question: "Contact the service provider for further advice.",
    guidance: "Note the advice given.",
    after: Some(("inappropriate", "yes")),
    answers: &[Answer {
        id: "received",
        label: "Advice received",
        then: "",
        reason: "",
    }],
};

const PUPIL_STEPS: &[Step] = &[
    DO_NOT_EXAMINE,
    Step {
        id: "reported",
        question: "Report the incident to the headteacher or designated person in school.",
        guidance: "Note to whom and when.",
        after: None,
        answers: &[
            Answer {
                id: "headteacher",
                label: "Reported to the headteacher",
                then: "",
                reason: "",
            },
            Answer {
                id: "dsl",
                label: "Reported to the designated safeguarding lead",
                then: "",
                reason: "",
            },
        ],
    },
    Step {
        id: "child-protection",
        question: "Is this a child protection issue?",
        guidance: "If you think it is, the school's child protection procedures apply.",
        after: None,
        answers: &[
            Answer {
                id: "yes",
                label: "Yes: a child protection concern",
                then: "Invoke the child protection procedures and contact the local safeguarding \
                       partnership. From now on only the DSL and the headteacher can see this \
                       incident.",
                reason: "",
            },
            Answer {
                id: "no",
                label: "No",
                then: "",
                reason: "",
            },
        ],
    },
    INTERVENTION,
    PROVIDER,
    CONSENT,
    ILLEGAL,
    POLICE,
    INAPPROPRIATE,
    PROVIDER_ADVICE,
];

const STAFF_STEPS: &[Step] = &[
    DO_NOT_EXAMINE,
    Step {
        id: "reported",
        question: "Report the incident to the headteacher: an allegation against a member of \
                   staff goes to the headteacher.",
        guidance: "If the allegation concerns the headteacher, follow the school's procedure for \
                   allegations against the head (the chair of governors). Note to whom and when.",
        after: None,
        answers: &[Answer {
            id: "headteacher",
            label: "Reported to the headteacher",
            then: "",
            reason: "",
        }],
    },
    INTERVENTION,
    PROVIDER,
    CONSENT,
    ILLEGAL,
    POLICE,
    INAPPROPRIATE,
    PROVIDER_ADVICE,
];

/// The welfare procedure: tell the DSL, decide whether it is a child protection concern, take
/// Appendix 1's device steps only if illegal material on a device is involved, decide on a
/// referral (or record why not), and decide whether to tell the parents (or record why not).
const WELFARE_STEPS: &[Step] = &[
    Step {
        id: "reported",
        question: "Tell the designated safeguarding lead (or a deputy) today.",
        guidance: "If a child is in immediate danger, call 999 first. Note to whom and when.",
        after: None,
        answers: &[
            Answer {
                id: "dsl",
                label: "Told the designated safeguarding lead",
                then: "",
                reason: "",
            },
            Answer {
                id: "deputy",
                label: "Told a deputy safeguarding lead",
                then: "",
                reason: "",
            },
        ],
    },
    Step {
        id: "child-protection",
        question: "Is this a child protection concern (is the child suffering, or likely to \
                   suffer, significant harm)?",
        guidance: "If it is, the school's child protection procedures apply.",
        after: None,
        answers: &[
            Answer {
                id: "yes",
                label: "Yes: a child protection concern",
                then: "Follow the child protection procedures. From now on only the DSL and the \
                       headteacher can see this record.",
                reason: "",
            },
            Answer {
                id: "no",
                label: "No: a welfare concern",
                then: "",
                reason: "",
            },
        ],
    },
    Step {
        id: "device",
        question: "Is illegal material on a device part of this (for example indecent images \
                   of a child)?",
        guidance: "Only then do the device steps of the incident procedure apply.",
        after: None,
        answers: &[
            Answer {
                id: "yes",
                label: "Yes: illegal material on a device",
                then: "Leave the device alone and follow the device steps below.",
                reason: "",
            },
            Answer {
                id: "no",
                label: "No device involved",
                then: "",
                reason: "",
            },
        ],
    },
    Step {
        after: Some(("device", "yes")),
        ..DO_NOT_EXAMINE
    },
    Step {
        after: Some(("device", "yes")),
        ..INTERVENTION
    },
    PROVIDER,
    CONSENT,
    ILLEGAL,
    POLICE,
    INAPPROPRIATE,
    PROVIDER_ADVICE,
    Step {
        id: "referral",
        question: "Does this need a referral (children's social care or MASH, Early Help, \
                   Channel, the police, CAMHS)?",
        guidance: "Record each referral made under Actions taken. Keeping children safe in \
                   education asks for the reasons behind a decision either way.",
        after: None,
        answers: &[
            Answer {
                id: "referred",
                label: "Referred",
                then: "Record each referral under Actions taken, with the reference.",
                reason: "Why, and who was consulted",
            },
            Answer {
                id: "not-referred",
                label: "Decided not to refer",
                then: "Keep it under review: a new concern may change the decision.",
                reason: "Why not, and who was consulted",
            },
        ],
    },
    Step {
        id: "parents",
        question: "Have the parents or carers been told?",
        guidance: "Do not tell them if that could put the child at greater risk (for example \
                   when abuse at home is disclosed): record why.",
        after: None,
        answers: &[
            Answer {
                id: "informed",
                label: "Parents or carers told",
                then: "",
                reason: "",
            },
            Answer {
                id: "not-informed",
                label: "Not told",
                then: "",
                reason: "Why they were not told",
            },
        ],
    },
];

/// Where an incident has got to in its procedure.
#[derive(Debug, PartialEq, Eq)]
pub struct Progress {
    /// The steps that apply given the answers so far, each with its answer if it has one.
    pub steps: Vec<(&'static Step, Option<&'static Answer>)>,
}

impl Progress {
    /// Works out which steps of `procedure` apply, given `answer(step id)`: the current answer
    /// to each step (the latest, corrections included).
    pub fn of<'a>(procedure: Procedure, answer: impl Fn(&str) -> Option<&'a str>) -> Progress {
        let mut steps: Vec<(&'static Step, Option<&'static Answer>)> = Vec::new();
        for step in procedure.steps() {
            let applies = match step.after {
                None => true,
                Some((earlier, wanted)) => steps
                    .iter()
                    .any(|(s, given)| s.id == earlier && given.is_some_and(|a| a.id == wanted)),
            };
            if applies {
                steps.push((step, answer(step.id).and_then(|id| step.answer(id))));
            }
        }
        Progress { steps }
    }

    /// The first step that applies and has no answer yet.
    pub fn next(&self) -> Option<&'static Step> {
        self.steps
            .iter()
            .find(|(_, answer)| answer.is_none())
            .map(|(step, _)| *step)
    }

    /// Whether every step that applies has been answered.
    pub fn complete(&self) -> bool {
        self.next().is_none()
    }

    /// Whether the procedure has found a child protection concern.
    pub fn child_protection(&self) -> bool {
        self.steps.iter().any(|(step, answer)| {
            step.id == CHILD_PROTECTION.0 && answer.is_some_and(|a| a.id == CHILD_PROTECTION.1)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn progress(procedure: Procedure, answers: &[(&str, &str)]) -> Progress {
        let answers: HashMap<&str, &str> = answers.iter().copied().collect();
        Progress::of(procedure, |step| answers.get(step).copied())
    }

    fn ids(progress: &Progress) -> Vec<&'static str> {
        progress.steps.iter().map(|(step, _)| step.id).collect()
    }

    #[test]
    fn a_new_pupil_incident_starts_with_leaving_the_device_alone() {
        let fresh = progress(Procedure::Pupil, &[]);
        assert_eq!(fresh.next().map(|s| s.id), Some("do-not-examine"));
        assert_eq!(
            ids(&fresh),
            [
                "do-not-examine",
                "reported",
                "child-protection",
                "intervention"
            ],
            "the provider's steps appear only when further intervention is needed"
        );
        assert!(!fresh.complete());
        assert!(!fresh.child_protection());
    }

    #[test]
    fn an_internal_investigation_completes_without_the_provider() {
        let done = progress(
            Procedure::Pupil,
            &[
                ("do-not-examine", "confirmed"),
                ("reported", "dsl"),
                ("child-protection", "no"),
                ("intervention", "internal"),
            ],
        );
        assert!(done.complete());
        assert!(!ids(&done).contains(&"provider"));
    }

    #[test]
    fn illegal_log_files_lead_to_the_police_and_inappropriate_ones_to_advice() {
        let base = [
            ("do-not-examine", "confirmed"),
            ("reported", "headteacher"),
            ("child-protection", "yes"),
            ("intervention", "further"),
            ("provider", "contacted"),
            ("consent", "given"),
        ];
        let mut illegal = base.to_vec();
        illegal.push(("illegal", "yes"));
        let flow = progress(Procedure::Pupil, &illegal);
        assert_eq!(flow.next().map(|s| s.id), Some("police"));
        assert!(!ids(&flow).contains(&"inappropriate"));
        assert!(flow.child_protection());

        let mut inappropriate = base.to_vec();
        inappropriate.extend([("illegal", "no"), ("inappropriate", "yes")]);
        let flow = progress(Procedure::Pupil, &inappropriate);
        assert_eq!(flow.next().map(|s| s.id), Some("provider-advice"));
        assert!(!ids(&flow).contains(&"police"));

        let mut refused = base.to_vec();
        refused[5] = ("consent", "refused");
        let flow = progress(Procedure::Pupil, &refused);
        assert!(
            flow.complete(),
            "without consent the log files are not examined"
        );
        assert!(!ids(&flow).contains(&"illegal"));
    }

    #[test]
    fn staff_incidents_go_to_the_headteacher_and_have_no_child_protection_step() {
        let staff = progress(Procedure::Staff, &[]);
        assert!(!ids(&staff).contains(&"child-protection"));
        let reported = Procedure::Staff
            .steps()
            .iter()
            .find(|s| s.id == "reported")
            .expect("a reporting step");
        assert_eq!(
            reported
                .answers
                .iter()
                .map(|answer| answer.id)
                .collect::<Vec<_>>(),
            ["headteacher"]
        );
    }

    #[test]
    fn a_welfare_concern_takes_the_device_steps_only_when_a_device_holds_illegal_material() {
        let base = [
            ("reported", "dsl"),
            ("child-protection", "yes"),
            ("referral", "referred"),
            ("parents", "not-informed"),
        ];
        let mut no_device = base.to_vec();
        no_device.push(("device", "no"));
        let flow = progress(Procedure::Welfare, &no_device);
        assert!(
            flow.complete(),
            "no forensic or log-file steps: {:?}",
            ids(&flow)
        );
        assert!(!ids(&flow).contains(&"do-not-examine"));
        assert!(!ids(&flow).contains(&"consent"));
        assert!(flow.child_protection());

        let mut device = base.to_vec();
        device.push(("device", "yes"));
        let flow = progress(Procedure::Welfare, &device);
        assert_eq!(flow.next().map(|s| s.id), Some("do-not-examine"));
        assert!(ids(&flow).contains(&"intervention"));

        let fresh = progress(Procedure::Welfare, &[]);
        assert_eq!(
            ids(&fresh),
            [
                "reported",
                "child-protection",
                "device",
                "referral",
                "parents"
            ]
        );
    }

    #[test]
    fn a_decision_not_to_refer_or_not_to_tell_the_parents_asks_for_the_reason() {
        let referral = Procedure::Welfare
            .step("referral")
            .expect("a referral step");
        for answer in referral.answers {
            assert!(
                !answer.reason.is_empty(),
                "{} needs its rationale",
                answer.id
            );
        }
        let parents = Procedure::Welfare.step("parents").expect("a parents step");
        assert!(
            parents
                .answer("informed")
                .is_some_and(|a| a.reason.is_empty())
        );
        assert!(
            parents
                .answer("not-informed")
                .is_some_and(|a| !a.reason.is_empty())
        );
    }

    #[test]
    fn only_a_pupil_can_be_the_subject_of_a_welfare_concern() {
        assert_eq!(Procedure::of(Audience::Pupil, true), Procedure::Welfare);
        assert_eq!(Procedure::of(Audience::Pupil, false), Procedure::Pupil);
        assert_eq!(Procedure::of(Audience::Staff, true), Procedure::Staff);
    }

    #[test]
    fn an_unknown_answer_counts_as_unanswered() {
        let flow = progress(Procedure::Pupil, &[("do-not-examine", "maybe")]);
        assert_eq!(flow.next().map(|s| s.id), Some("do-not-examine"));
    }

    #[test]
    fn every_step_is_reachable_and_names_an_earlier_step() {
        for procedure in [Procedure::Pupil, Procedure::Staff, Procedure::Welfare] {
            let steps = procedure.steps();
            for (index, step) in steps.iter().enumerate() {
                assert!(!step.answers.is_empty(), "{} has no answers", step.id);
                if let Some((earlier, answer)) = step.after {
                    let before = steps[..index]
                        .iter()
                        .find(|s| s.id == earlier)
                        .unwrap_or_else(|| panic!("{} follows an unknown step", step.id));
                    assert!(
                        before.answer(answer).is_some(),
                        "{} follows no answer",
                        step.id
                    );
                }
            }
        }
    }
}
