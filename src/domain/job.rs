//! The asynchronous job state machine: status is a pure function of the clock, never pushed.

use std::time::Duration;

use super::device::DeviceText;
use super::ids::{BatchId, DeviceId, TrackingId};
use super::timestamp::Timestamp;

/// `DeviceUploadStatusType` with its wire spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Processing,
    Finished,
    FinishedWithErrors,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processing => "processing",
            Self::Finished => "finished",
            Self::FinishedWithErrors => "finished_with_errors",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::FinishedWithErrors)
    }
}

/// How long a new job stays in each non-terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub queued_for: Duration,
    pub processing_for: Duration,
}

/// A per-device failure, as Autopilot reports it in `devicesStatus[]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceError {
    /// Already registered to this customer.
    AlreadyAssigned,
    /// Registered to a different customer (tenant).
    AssignedToOtherTenant,
    /// The same device appears earlier in the same upload.
    Duplicated,
    /// No accepted identifier combination (hash, product key, or serial + manufacturer + model).
    MissingIdentifiers,
    /// The hardware hash is not a plausible Autopilot hash (only with `--strict-hardware-hash`).
    InvalidHardwareHash,
    /// A tuple-only upload the seeded OEM registry does not know.
    NotRegistered,
    /// The device is seeded as already registered in Entra ID (`aadRegistered`).
    AlreadyAadRegistered,
    /// A policy update named a device that no customer has.
    DeviceNotFound,
    /// A policy update named a device registered to another customer (tenant).
    DeviceRegisteredByOtherTenant,
    /// A policy update named a policy that no customer has.
    PolicyNotFound,
    /// A policy update named a policy of another customer (tenant).
    ProfileAssignedToOtherTenant,
}

impl DeviceError {
    /// `errorCode`, a string on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::AlreadyAssigned => "806",
            Self::AssignedToOtherTenant => "808",
            // The Autopilot device-registration catalogue partners see in practice (README,
            // "Jobs and device outcomes", for the sources): 813 ZtdDeviceIsNotUnique, 802
            // InvalidZtdHardwareHash, 812 ZtdDeviceNotFound, 809 ZtdProfileIsNotRegistered,
            // 807 ZtdDeviceIsNotRegistered, 810 ZtdProfileAssignedToOtherTenant, 811
            // ZtdDeviceRegisteredByOtherTenant, 814 ZtdDeviceAlreadyAadRegistered.
            Self::Duplicated => "813",
            Self::MissingIdentifiers => "803",
            Self::InvalidHardwareHash => "802",
            Self::DeviceNotFound => "812",
            Self::PolicyNotFound => "809",
            Self::NotRegistered => "807",
            Self::ProfileAssignedToOtherTenant => "810",
            Self::DeviceRegisteredByOtherTenant => "811",
            Self::AlreadyAadRegistered => "814",
        }
    }

    /// Every error, in code order.
    pub const ALL: [Self; 11] = [
        Self::InvalidHardwareHash,
        Self::MissingIdentifiers,
        Self::AlreadyAssigned,
        Self::NotRegistered,
        Self::AssignedToOtherTenant,
        Self::PolicyNotFound,
        Self::ProfileAssignedToOtherTenant,
        Self::DeviceRegisteredByOtherTenant,
        Self::DeviceNotFound,
        Self::Duplicated,
        Self::AlreadyAadRegistered,
    ];

    /// The error whose `errorCode` is `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code.trim())
    }

    /// `errorDescription`.
    pub fn description(self) -> &'static str {
        match self {
            Self::AlreadyAssigned => "ZtdDeviceAlreadyAssigned",
            Self::AssignedToOtherTenant => "ZtdDeviceAssignedToOtherTenant",
            Self::Duplicated => "ZtdDeviceIsNotUnique",
            Self::MissingIdentifiers => "MissingZtdSerialNumberAndProductKey",
            Self::InvalidHardwareHash => "InvalidZtdHardwareHash",
            Self::DeviceNotFound => "ZtdDeviceNotFound",
            Self::PolicyNotFound => "ZtdProfileIsNotRegistered",
            Self::NotRegistered => "ZtdDeviceIsNotRegistered",
            Self::ProfileAssignedToOtherTenant => "ZtdProfileAssignedToOtherTenant",
            Self::DeviceRegisteredByOtherTenant => "ZtdDeviceRegisteredByOtherTenant",
            Self::AlreadyAadRegistered => "ZtdDeviceAlreadyAadRegistered",
        }
    }
}

/// What happens to one device when its job completes; decided when the job is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded(DeviceId),
    Failed(DeviceError),
}

/// One line of `devicesStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEntry {
    /// The device id a policy update named, echoed as given; `None` for uploads, whose ids are
    /// revealed by their outcome.
    pub device_ref: Option<Box<str>>,
    /// `serialNumber` and `productKey` to echo.
    pub text: DeviceText,
    pub outcome: Outcome,
}

/// An accepted upload (or policy update). Its schedule is fixed at acceptance, so a restart or a
/// change of configuration never moves a job that is already in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: TrackingId,
    pub accepted_at: Timestamp,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
    pub entries: Vec<JobEntry>,
    /// The batch an upload job uploads into; `None` for policy updates (and for uploads
    /// restored from documents written before jobs recorded it).
    pub batch: Option<BatchId>,
}

/// A batch's `status` at `now`, from the upload jobs into it: `processing` while any is,
/// else `queued` while any is, else `finished` (also with no job left: retention forgets only
/// finished ones). Like a job's, the terminal status is `finished` even when devices failed.
pub fn batch_status<'a>(jobs: impl IntoIterator<Item = &'a Job>, now: Timestamp) -> JobStatus {
    let mut status = JobStatus::Finished;
    for job in jobs {
        match job.status_at(now) {
            JobStatus::Processing => return JobStatus::Processing,
            JobStatus::Queued => status = JobStatus::Queued,
            _ => {}
        }
    }
    status
}

impl Job {
    pub fn new(
        id: TrackingId,
        accepted_at: Timestamp,
        timings: Timings,
        entries: Vec<JobEntry>,
    ) -> Self {
        let started_at = accepted_at.plus(timings.queued_for);
        Self {
            id,
            accepted_at,
            started_at,
            completed_at: started_at.plus(timings.processing_for),
            entries,
            batch: None,
        }
    }

    /// The batch-level status at `now`.
    ///
    /// The terminal status is `finished` even when devices failed: the only documented example
    /// shows exactly that, and CIPP waits for `finished` before it reads `devicesStatus`.
    pub fn status_at(&self, now: Timestamp) -> JobStatus {
        if now < self.started_at {
            JobStatus::Queued
        } else if now < self.completed_at {
            JobStatus::Processing
        } else {
            JobStatus::Finished
        }
    }

    /// `startedTime`: present once processing has begun.
    pub fn started_time(&self, now: Timestamp) -> Option<Timestamp> {
        (now >= self.started_at).then_some(self.started_at)
    }

    /// `completedTime`: present once the job is terminal.
    pub fn completed_time(&self, now: Timestamp) -> Option<Timestamp> {
        (now >= self.completed_at).then_some(self.completed_at)
    }

    /// A device's status at `now`: the job's status until it is terminal, then its own outcome.
    pub fn entry_status_at(&self, entry: &JobEntry, now: Timestamp) -> JobStatus {
        match self.status_at(now) {
            s if !s.is_terminal() => s,
            _ => match entry.outcome {
                Outcome::Succeeded(_) => JobStatus::Finished,
                Outcome::Failed(_) => JobStatus::FinishedWithErrors,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::device::{DeviceField, TextFields};
    use time::macros::datetime;

    const T0: Timestamp = Timestamp::from_offset_const(datetime!(2026-11-21 10:00:00 UTC));

    fn text(serial_number: &str, product_key: &str) -> DeviceText {
        let field = |name, value| DeviceField::parse(name, Some(value)).unwrap();
        DeviceText::new(&TextFields {
            serial_number: field("serialNumber", serial_number),
            product_key: field("productKey", product_key),
            ..TextFields::default()
        })
    }

    fn job() -> Job {
        let timings = Timings {
            queued_for: Duration::from_secs(1),
            processing_for: Duration::from_secs(2),
        };
        let entries = vec![
            JobEntry {
                device_ref: None,
                text: text("S1", ""),
                outcome: Outcome::Succeeded(DeviceId::new()),
            },
            JobEntry {
                device_ref: None,
                text: text("", "P2"),
                outcome: Outcome::Failed(DeviceError::AssignedToOtherTenant),
            },
        ];
        Job::new(TrackingId::new(), T0, timings, entries)
    }

    fn at(ms: u64) -> Timestamp {
        T0.plus(Duration::from_millis(ms))
    }

    #[test]
    fn status_moves_from_queued_to_processing_to_finished_with_the_clock() {
        let job = job();
        assert_eq!(job.status_at(at(0)), JobStatus::Queued);
        assert_eq!(job.status_at(at(999)), JobStatus::Queued);
        assert_eq!(job.status_at(at(1000)), JobStatus::Processing);
        assert_eq!(job.status_at(at(2999)), JobStatus::Processing);
        assert_eq!(job.status_at(at(3000)), JobStatus::Finished);
    }

    #[test]
    fn times_appear_only_once_reached() {
        let job = job();
        assert_eq!(job.started_time(at(999)), None);
        assert_eq!(job.started_time(at(1000)), Some(at(1000)));
        assert_eq!(job.completed_time(at(2999)), None);
        assert_eq!(job.completed_time(at(5000)), Some(at(3000)));
    }

    #[test]
    fn devices_show_the_job_status_until_terminal_then_their_outcome() {
        let job = job();
        let (ok, failed) = (&job.entries[0], &job.entries[1]);
        assert_eq!(job.entry_status_at(failed, at(1500)), JobStatus::Processing);
        assert_eq!(job.entry_status_at(ok, at(3000)), JobStatus::Finished);
        assert_eq!(
            job.entry_status_at(failed, at(3000)),
            JobStatus::FinishedWithErrors
        );
        // The batch-level status stays `finished` although a device failed.
        assert_eq!(job.status_at(at(3000)), JobStatus::Finished);
    }

    #[test]
    fn every_code_reads_back_as_its_error_and_codes_are_unique() {
        for e in DeviceError::ALL {
            assert_eq!(DeviceError::from_code(e.code()), Some(e));
        }
        let codes: Vec<_> = DeviceError::ALL.iter().map(|e| e.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, codes);
    }

    #[test]
    fn a_batch_is_processing_while_any_upload_is_then_queued_then_finished() {
        let early = job();
        let later = Job::new(TrackingId::new(), at(3000), early_timings(), vec![]);
        let both = [early.clone(), later];
        assert_eq!(batch_status(&both, at(0)), JobStatus::Queued);
        assert_eq!(batch_status(&both, at(1500)), JobStatus::Processing);
        // The first has finished, the second is still queued.
        assert_eq!(batch_status(&both, at(3500)), JobStatus::Queued);
        assert_eq!(batch_status(&both, at(4000)), JobStatus::Processing);
        assert_eq!(batch_status(&both, at(6000)), JobStatus::Finished);
        assert_eq!(batch_status(&[early], at(3000)), JobStatus::Finished);
        assert_eq!(batch_status(&[], at(0)), JobStatus::Finished);
    }

    fn early_timings() -> Timings {
        Timings {
            queued_for: Duration::from_secs(1),
            processing_for: Duration::from_secs(2),
        }
    }

    #[test]
    fn zero_durations_make_a_job_terminal_at_once() {
        let timings = Timings {
            queued_for: Duration::ZERO,
            processing_for: Duration::ZERO,
        };
        let job = Job::new(TrackingId::new(), T0, timings, vec![]);
        assert_eq!(job.status_at(T0), JobStatus::Finished);
    }
}
