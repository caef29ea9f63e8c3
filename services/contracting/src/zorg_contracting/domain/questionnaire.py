"""The policy's questionnaire (*vragenlijst*) answered when a provider signs on the digital route."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from zorg_common.policy import Policy, Question

from .follow_format import Problem

Answer = bool | int | float | str
_YES = {"ja", "yes", "true", "j", "y"}
_NO = {"nee", "no", "false", "n"}


def _value(question: Question, answer: Answer) -> Answer:
    """The answer in the question's kind; raises ValueError naming what was expected."""
    kind = question.answer
    if kind == "yes_no":
        if isinstance(answer, bool):
            return answer
        if isinstance(answer, str) and answer.strip().lower() in _YES | _NO:
            return answer.strip().lower() in _YES
        raise ValueError("answer yes or no (true/false, ja/nee)")
    if kind == "number":
        if isinstance(answer, bool):
            raise ValueError("answer a number")
        if isinstance(answer, int | float):
            return answer
        try:
            return float(answer.replace(",", ".")) if "," in answer or "." in answer else int(answer)
        except ValueError:
            raise ValueError("answer a number") from None
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(answer).strip()).isoformat()
        except ValueError:
            raise ValueError("answer a date, YYYY-MM-DD") from None
    text = str(answer).strip()
    if not text:
        raise ValueError("the answer is empty")
    return text


def check_answers(
    policy: Policy, answers: Sequence[tuple[str, Answer]]
) -> tuple[list[dict[str, Answer]], list[Problem]]:
    """The answers as kept with the contract, and every problem with them at once.

    Each answer is to a question of the policy, once, in that question's kind; every required
    question is answered.
    """
    kept: list[dict[str, Answer]] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, (question_id, answer) in enumerate(answers):
        question = policy.question(question_id)
        if question is None:
            known = ", ".join(q.id for q in policy.questionnaire) or "none"
            problems.append(Problem(f"answers[{i}].question", f"not a question of {policy.id}; its questions: {known}"))
            continue
        if question_id in seen:
            problems.append(Problem(f"answers[{i}].question", f"{question_id} is answered twice"))
            continue
        seen.add(question_id)
        try:
            kept.append({"question": question_id, "answer": _value(question, answer)})
        except ValueError as exc:
            problems.append(Problem(f"answers[{i}].answer", str(exc)))
    missing = [q.id for q in policy.questionnaire if q.required and q.id not in seen]
    if missing:
        problems.append(Problem("answers", f"unanswered: {', '.join(missing)}"))
    return kept, problems
