"""Procedure (trial boluses, implantation, refill visits), Observation (Modified Ashworth, Penn scores, residual
volumes) and MedicationStatement (the programmed dose and its history) from model rows."""

from __future__ import annotations

from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.procedure import Procedure

from tracker.fhir import codes
from tracker.fhir.resources import quantity, ref


def _code(system: str, code: str, labels: dict[str, str]) -> dict:
    return {"coding": [{"system": system, "code": code, "display": labels[code]}], "text": labels[code]}


def _procedure(pid: str, patient_id: int, code: str, when, **more) -> Procedure:
    return Procedure(
        id=pid,
        status="completed",
        code=_code(codes.PROCEDURE_CODES, code, codes.PROCEDURE_LABELS),
        subject=ref("Patient", str(patient_id)),
        performedDateTime=when,
        **more,
    )


def _observation(oid: str, patient_id: int, code: str, when, part_of: str, value: dict, **more) -> Observation:
    return Observation(
        id=oid,
        status="final",
        category=[{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "exam"}]}],
        code=_code(codes.OBSERVATION_CODES, code, codes.OBSERVATION_LABELS),
        subject=ref("Patient", str(patient_id)),
        effectiveDateTime=when,
        partOf=[ref("Procedure", part_of)],
        **value,
        **more,
    )


def ashworth_value(score: str) -> dict:
    return {"valueCodeableConcept": {"coding": [{"system": codes.ASHWORTH_CODES, "code": score}], "text": score}}


def _scores(prefix: str, patient_id: int, when, part_of: str, scores: dict, timing: str | None) -> list[Observation]:
    """Ashworth and Penn scores of one procedure; `timing` (before | after) for a trial bolus's pair."""
    more = {"extension": [{"url": codes.EXT_TIMING, "valueCode": timing}]} if timing else {}
    suffix = f"-{timing}" if timing else ""
    out = []
    for code, value in scores.items():
        if value is None:
            continue
        shaped = ashworth_value(value) if code == codes.ASHWORTH else {"valueInteger": value}
        out.append(_observation(f"{prefix}-{code}{suffix}", patient_id, code, when, part_of, shaped, **more))
    return out


def trial_bolus(row) -> tuple[Procedure, list[Observation]]:
    """A trial bolus: the procedure (dose, concentration, outcome, hours of effect in a note) and its before and
    after scores."""
    pid = f"trial-{row.id}"
    note = f"Effect lasted {row.hours_of_effect} h." if row.hours_of_effect is not None else None
    procedure = _procedure(
        pid,
        row.patient_id,
        codes.TRIAL_BOLUS,
        row.given_on,
        outcome={"text": row.outcome},
        extension=[
            {"url": codes.EXT_DOSE, "valueQuantity": quantity(row.dose_mcg, "ug")},
            {"url": codes.EXT_CONCENTRATION, "valueQuantity": quantity(row.concentration_mcg_per_ml, "ug/mL")},
        ],
        note=[{"text": note}] if note else None,
    )
    observations = []
    for timing in ("before", "after"):
        scores = {
            codes.ASHWORTH: getattr(row, f"ashworth_{timing}"),
            codes.PENN_FREQUENCY: getattr(row, f"penn_frequency_{timing}"),
            codes.PENN_SEVERITY: getattr(row, f"penn_severity_{timing}"),
        }
        observations += _scores(pid, row.patient_id, row.given_on, pid, scores, timing)
    return procedure, observations


def implantation(row, when, pump_id: int | None, centre_name: str) -> Procedure:
    """The implantation (a stage change with its surgery details); the pump placed that day when there is one."""
    return _procedure(
        f"implant-{row.id}",
        row.patient_id,
        codes.IMPLANT,
        when,
        performer=[{"actor": {"display": row.surgeon}}],
        location={"display": centre_name},
        focalDevice=[{"manipulated": ref("Device", str(pump_id))}] if pump_id else None,
    )


def refill(row, patient_id: int) -> tuple[Procedure, list[Observation]]:
    """A refill visit (or the fill at implantation): what went in, and what was found (residual, scores)."""
    pid = f"refill-{row.id}"
    procedure = _procedure(
        pid,
        patient_id,
        codes.REFILL,
        row.visit_at,
        focalDevice=[{"manipulated": ref("Device", str(row.pump_id))}],
        extension=[{"url": codes.EXT_CONCENTRATION, "valueQuantity": quantity(row.concentration_mcg_per_ml, "ug/mL")}],
        note=[
            {
                "text": f"Added {row.volume_added_ml} mL at {row.concentration_mcg_per_ml} mcg/mL; "
                f"{row.resulting_volume_ml} mL in the pump after the fill."
                + (" Fill at implantation." if row.at_implant else "")
            }
        ],
    )
    observations = _scores(
        pid,
        patient_id,
        row.visit_at,
        pid,
        {codes.ASHWORTH: row.ashworth, codes.PENN_FREQUENCY: row.penn_frequency},
        None,
    )
    if row.actual_residual_ml is not None:
        expected = (
            [{"code": {"text": "expected residual"}, "valueQuantity": quantity(row.expected_residual_ml, "mL")}]
            if row.expected_residual_ml is not None
            else None
        )
        observations.append(
            _observation(
                f"{pid}-{codes.RESIDUAL}",
                patient_id,
                codes.RESIDUAL,
                row.visit_at,
                pid,
                {"valueQuantity": quantity(row.actual_residual_ml, "mL")},
                component=expected,
            )
        )
    return procedure, observations


def _dosage(dose, concentration: int | None) -> list[dict]:
    text = f"{dose.daily_dose_mcg} mcg/day" + (f" of {concentration} mcg/mL" if concentration else "")
    if dose.mode == "flex":
        text += " (flexible schedule)"
    continuous = {
        "text": text,
        "route": {"coding": [{"system": codes.SNOMED, "code": codes.INTRATHECAL_ROUTE, "display": "Intrathecal"}]},
        "doseAndRate": [{"rateQuantity": quantity(dose.daily_dose_mcg, "ug/d")}],
    }
    if not dose.bolus_dose_mcg or not dose.max_boluses_per_day:
        return [continuous]
    bolus = {
        "text": f"patient-activated bolus {dose.bolus_dose_mcg} mcg, at most {dose.max_boluses_per_day} a day",
        "asNeededBoolean": True,
        "doseAndRate": [{"doseQuantity": quantity(dose.bolus_dose_mcg, "ug")}],
        "maxDosePerPeriod": {
            "numerator": quantity(dose.bolus_dose_mcg * dose.max_boluses_per_day, "ug"),
            "denominator": quantity(1, "d"),
        },
    }
    return [continuous, bolus]


def dose_history(pump, doses, fills, patient_id: int) -> list[MedicationStatement]:
    """One MedicationStatement per programmed dose (voided entries left out), the one in force "active" and earlier
    ones "completed" with the period they ran; the concentration is the pump's fill in force at that moment."""
    doses = sorted((d for d in doses if d.voided_at is None), key=lambda d: (d.effective_at, d.id))
    fills = sorted((f for f in fills if f.voided_at is None), key=lambda f: f.visit_at)
    out = []
    for n, dose in enumerate(doses):
        following = doses[n + 1] if n + 1 < len(doses) else None
        before = [f.concentration_mcg_per_ml for f in fills if f.visit_at <= dose.effective_at]
        concentration = before[-1] if before else None
        medication = "Baclofen intrathecal" + (f" {concentration} mcg/mL" if concentration else "")
        out.append(
            MedicationStatement(
                id=f"dose-{dose.id}",
                status="completed" if following else "active",
                medicationCodeableConcept={
                    "coding": [{"system": codes.RXNORM, "code": codes.BACLOFEN_RXCUI, "display": "baclofen"}],
                    "text": medication,
                },
                subject=ref("Patient", str(patient_id)),
                effectivePeriod={"start": dose.effective_at} | ({"end": following.effective_at} if following else {}),
                dateAsserted=dose.recorded_at,
                derivedFrom=[ref("Device", str(pump.id))],  # the pump the dose is programmed on
                dosage=_dosage(dose, concentration),
                extension=[{"url": codes.EXT_CONCENTRATION, "valueQuantity": quantity(concentration, "ug/mL")}]
                if concentration
                else None,
                note=[{"text": dose.reason}] if dose.reason else None,
            )
        )
    return out
