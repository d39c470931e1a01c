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

    /// The steps of this audience's procedure, in order.
    pub fn steps(self) -> &'static [Step] {
        match self {
            Audience::Pupil => PUPIL_STEPS,
            Audience::Staff => STAFF_STEPS,
        }
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
        },
        Answer {
            id: "further",
            label: "Further intervention is needed",
            then: "The designated person contacts the managed service provider.",
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
        },
        Answer {
            id: "refused",
            label: "Consent refused",
            then: "The log files are not investigated; record the school's own findings below.",
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
        },
        Answer {
            id: "no",
            label: "No",
            then: "",
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
        },
        Answer {
            id: "no",
            label: "No",
            then: "Nothing further follows from the log files.",
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
            },
            Answer {
                id: "dsl",
                label: "Reported to the designated safeguarding lead",
                then: "",
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
            },
            Answer {
                id: "no",
                label: "No",
                then: "",
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

/// Where an incident has got to in its procedure.
#[derive(Debug, PartialEq, Eq)]
pub struct Progress {
    /// The steps that apply given the answers so far, each with its answer if it has one.
    pub steps: Vec<(&'static Step, Option<&'static Answer>)>,
}

impl Progress {
    /// Works out which steps apply to an incident about `audience`, given `answer(step id)`:
    /// the current answer to each step (the latest, corrections included).
    pub fn of<'a>(audience: Audience, answer: impl Fn(&str) -> Option<&'a str>) -> Progress {
        let mut steps: Vec<(&'static Step, Option<&'static Answer>)> = Vec::new();
        for step in audience.steps() {
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

    fn progress(audience: Audience, answers: &[(&str, &str)]) -> Progress {
        let answers: HashMap<&str, &str> = answers.iter().copied().collect();
        Progress::of(audience, |step| answers.get(step).copied())
    }

    fn ids(progress: &Progress) -> Vec<&'static str> {
        progress.steps.iter().map(|(step, _)| step.id).collect()
    }

    #[test]
    fn a_new_pupil_incident_starts_with_leaving_the_device_alone() {
        let fresh = progress(Audience::Pupil, &[]);
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
            Audience::Pupil,
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
        let flow = progress(Audience::Pupil, &illegal);
        assert_eq!(flow.next().map(|s| s.id), Some("police"));
        assert!(!ids(&flow).contains(&"inappropriate"));
        assert!(flow.child_protection());

        let mut inappropriate = base.to_vec();
        inappropriate.extend([("illegal", "no"), ("inappropriate", "yes")]);
        let flow = progress(Audience::Pupil, &inappropriate);
        assert_eq!(flow.next().map(|s| s.id), Some("provider-advice"));
        assert!(!ids(&flow).contains(&"police"));

        let mut refused = base.to_vec();
        refused[5] = ("consent", "refused");
        let flow = progress(Audience::Pupil, &refused);
        assert!(
            flow.complete(),
            "without consent the log files are not examined"
        );
        assert!(!ids(&flow).contains(&"illegal"));
    }

    #[test]
    fn staff_incidents_go_to_the_headteacher_and_have_no_child_protection_step() {
        let staff = progress(Audience::Staff, &[]);
        assert!(!ids(&staff).contains(&"child-protection"));
        let reported = Audience::Staff
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
    fn an_unknown_answer_counts_as_unanswered() {
        let flow = progress(Audience::Pupil, &[("do-not-examine", "maybe")]);
        assert_eq!(flow.next().map(|s| s.id), Some("do-not-examine"));
    }

    #[test]
    fn every_step_is_reachable_and_names_an_earlier_step() {
        for audience in [Audience::Pupil, Audience::Staff] {
            let steps = audience.steps();
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
