//! What each role may do. Checked on the server for every route (and, through the school id in
//! every query, for every record).
//!
//! | permission | DSL | headteacher | technician | teacher | governor |
//! |---|---|---|---|---|---|
//! | dashboard (aggregates only) | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | people list | ✓ | ✓ | ✓ | | |
//! | import people | ✓ | | ✓ | | |
//! | device register | | | ✓ | | |
//! | activity search (named people, with a reason) | ✓ | ✓ | | | |
//! | audit log | ✓ | ✓ | | | |
//! | accounts and roles | | ✓ | ✓ | | |
//! | unblock requests: ask (for a class or group), see one's own | ✓ | ✓ | ✓ | ✓ | |
//! | unblock requests: decide, end grants, the log | ✓ | ✓ | ✓ | | |
//! | alert queue: see and triage alerts; see risk-detection exclusions | ✓ | ✓ | | | |
//! | risk detection: add and end exclusions (with a reason) | ✓ | | | | |
//! | incidents: record one, see and add notes to the pupil incidents one recorded | ✓ | ✓ | ✓ | ✓ | |
//! | incidents: see all, walk the procedure, record actions, chronologies | ✓ | ✓ | | | |
//! | incidents: sign off (closes it) | ✓ | | | | |
//! | agreements: publish versions, see who has agreed | ✓ | ✓ | | | |
//! | photo consent: where pupils stand now, publish and file-name checks | ✓ | ✓ | | ✓ | |
//! | photo consent: a pupil's history, recording a paper form | ✓ | ✓ | | | |
//! | training: records with names, adding them | ✓ | ✓ | | | |
//! | training: counts per course, policy readings (no names) | ✓ | ✓ | | | ✓ |
//! | device loans and software licences | | ✓ | ✓ | | |
//!
//! Every account accepts the staff acceptable use agreement once a school year (`/agreement`).
//!
//! Governors and teachers see counts only, never a pupil's name. An account can give others only
//! roles it holds itself, except the headteacher, who can give any: a technician cannot make
//! anyone (least of all themselves) a DSL.

use ward_store::{Role, Roles};

/// Something an account may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// The dashboard: counts and health, no names.
    ViewDashboard,
    /// The list of pupils, staff and guests.
    ViewPeople,
    /// CSV import of people.
    ImportPeople,
    /// Giving a person a starting Ward password, or removing it (a technician's or the DSL's
    /// task: whoever sets a pupil's password could log in as them).
    SetPasswords,
    /// The device register.
    ManageDevices,
    /// Activity search, including a named person's (with a reason, audited).
    SearchActivity,
    /// The audit log.
    ViewAudit,
    /// Accounts and their roles.
    ManageAccounts,
    /// Unblock requests: approve (as a grant), narrow, refuse, end a grant; the log.
    DecideUnblocks,
    /// The alert queue: alerts name pupils and what they tried to reach. Also the list of
    /// risk-detection exclusions, which says why each alert that is not raised is not.
    TriageAlerts,
    /// Adding and ending risk-detection exclusions (a phrase, a site, a person), each with a
    /// reason: leaving something unwatched is the DSL's decision.
    ExcludeFromDetection,
    /// Asking for a site to be unblocked for a class or group, and following one's requests.
    RequestUnblock,
    /// Recording an incident (Appendix 1: anyone who finds or suspects one), and seeing and
    /// adding notes to the pupil incidents one recorded (never child-protection ones).
    RecordIncident,
    /// Every incident, staff and child protection included: the procedure, actions taken, the
    /// person's earlier incidents and chronology.
    ManageIncidents,
    /// Signing an incident off, which closes it.
    SignOffIncidents,
    /// The filtering policy as in force, its versions and the URL tester.
    ViewFiltering,
    /// Changing the filtering policy (each change with a reason, a new version).
    EditFiltering,
    /// The policy document's appendix: the filtering and sanctions tables as in force (no
    /// names), for everyone who signs off the school's online safety policy.
    ViewPolicyDocument,
    /// Acceptable use agreements: publishing new versions, and who has and has not agreed.
    ManageAgreements,
    /// Photo and video consent as it stands now (the "no consent" lists), and the checks
    /// before publishing: names against a purpose, and names in image file names.
    ViewConsent,
    /// A pupil's consent history, and recording a parent's signed paper form.
    RecordConsent,
    /// Staff training: the summary per course and how many have read the policy.
    ViewTraining,
    /// Staff training: the records with names, and adding them.
    ManageTraining,
    /// Device loans (the guardianship terms, returns, losses) and software licences.
    ManageLoans,
}

/// Whether `role` carries `permission`.
pub fn role_allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    match role {
        // Park End's policy has technical staff open sites for a period of study; Amblecote's
        // has the online safety coordinator (the DSL role) consider requests.
        Role::Dsl => matches!(
            permission,
            ViewDashboard
                | ViewPeople
                | ImportPeople
                | SetPasswords
                | SearchActivity
                | ViewAudit
                | DecideUnblocks
                | TriageAlerts
                | ExcludeFromDetection
                | RequestUnblock
                | RecordIncident
                | ManageIncidents
                | SignOffIncidents
                | ViewFiltering
                | EditFiltering
                | ViewPolicyDocument
                | ManageAgreements
                | ViewConsent
                | RecordConsent
                | ViewTraining
                | ManageTraining
        ),
        Role::Headteacher => matches!(
            permission,
            ViewDashboard
                | ViewPeople
                | SearchActivity
                | ViewAudit
                | ManageAccounts
                | DecideUnblocks
                | TriageAlerts
                | RequestUnblock
                | RecordIncident
                | ManageIncidents
                | ViewFiltering
                | ViewPolicyDocument
                | ManageAgreements
                | ViewConsent
                | RecordConsent
                | ViewTraining
                | ManageTraining
                | ManageLoans
        ),
        Role::Technician => matches!(
            permission,
            ViewDashboard
                | ViewPeople
                | ImportPeople
                | SetPasswords
                | ManageDevices
                | ManageAccounts
                | DecideUnblocks
                | RequestUnblock
                | RecordIncident
                | ViewFiltering
                | EditFiltering
                | ViewPolicyDocument
                | ManageLoans
        ),
        Role::Teacher => matches!(
            permission,
            ViewDashboard | RequestUnblock | RecordIncident | ViewPolicyDocument | ViewConsent
        ),
        Role::Governor => matches!(
            permission,
            ViewDashboard | ViewPolicyDocument | ViewTraining
        ),
    }
}

/// Whether any of `roles` carries `permission`.
pub fn allows(roles: &Roles, permission: Permission) -> bool {
    roles.iter().any(|role| role_allows(role, permission))
}

/// Whether an account holding `granter` may give `role` to an account.
pub fn may_grant(granter: &Roles, role: Role) -> bool {
    granter.has(Role::Headteacher)
        || (allows(granter, Permission::ManageAccounts) && granter.has(role))
        || (granter.has(Role::Technician) && matches!(role, Role::Teacher | Role::Governor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governors_and_teachers_see_aggregates_only() {
        for role in [Role::Governor, Role::Teacher] {
            let roles = Roles::new([role]);
            assert!(allows(&roles, Permission::ViewDashboard));
            for permission in [
                Permission::ViewPeople,
                Permission::SearchActivity,
                Permission::ViewAudit,
                Permission::ManageAccounts,
            ] {
                assert!(!allows(&roles, permission), "{role} has {permission:?}");
            }
        }
    }

    #[test]
    fn a_technician_cannot_make_a_dsl() {
        let technician = Roles::new([Role::Technician]);
        assert!(may_grant(&technician, Role::Teacher));
        assert!(may_grant(&technician, Role::Technician));
        assert!(!may_grant(&technician, Role::Dsl));
        assert!(!may_grant(&technician, Role::Headteacher));
        let head = Roles::new([Role::Headteacher]);
        assert!(Role::ALL.into_iter().all(|role| may_grant(&head, role)));
        let dsl = Roles::new([Role::Dsl]);
        assert!(
            !may_grant(&dsl, Role::Dsl),
            "the DSL does not manage accounts"
        );
    }
}
