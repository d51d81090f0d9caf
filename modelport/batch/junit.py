"""JUnit XML for CI test reporters (Jenkins, GitLab, GitHub): one testcase per job and target.

A task that failed verification is a `<failure>` whose text is the verification table; one that could not
be converted (or crashed, or timed out) is an `<error>` with the message and hint; an up-to-date task passes
and says so in `<system-out>`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from modelport.batch.run import BatchResult


def to_xml(result: BatchResult, page: str | None = None) -> bytes:
    """`page`: the batch's --report page as the JUnit file should name it; each testcase links to its job's
    section there (a `report` property, PAGE#job-N)."""
    counts = result.counts
    suites = ET.Element("testsuites", name="modelport batch", tests=str(len(result.results)),
                        failures=str(counts["verification failed"]), errors=str(counts["failed"]),
                        time=f"{result.seconds:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=Path(result.manifest).name, tests=str(len(result.results)),
                          failures=str(counts["verification failed"]), errors=str(counts["failed"]), skipped="0",
                          time=f"{result.seconds:.3f}")
    for number, (task, res) in enumerate(zip(result.tasks, result.results), 1):
        case = ET.SubElement(suite, "testcase", classname=f"modelport.{task.name}", name=task.label,
                             time=f"{res.get('seconds', 0.0):.3f}", file=task.source)
        if task.tags or page:
            props = ET.SubElement(case, "properties")
            for key, value in task.tags.items():
                ET.SubElement(props, "property", name=key, value=value)
            if page:
                ET.SubElement(props, "property", name="report", value=f"{page}#job-{number}")
        if res["status"] == "verification failed":
            step = next(s for s in res["steps"] if s["status"] == "verification failed")
            node = ET.SubElement(case, "failure", message=f"{step['command']}: {step.get('verification', '')}",
                                 type="verification")
            node.text = f"{step['output']}\n{step.get('table', '')}"
        elif res["status"] == "failed":
            step = next((s for s in res["steps"] if s["status"] == "failed"), None)
            message = res.get("message") or (step or {}).get("message", "failed")
            node = ET.SubElement(case, "error", message=message[:500], type=f"exit {res['exit_code']}")
            lines = [f"{(step or {}).get('command', 'job')}: {message}"]
            if step and step.get("hint"):
                lines.append(f"hint: {step['hint']}")
            node.text = "\n".join(lines)
        out = [f"{s['command']}: {s['output']}: {s['status']}" + (f" ({s['verification']})"
                                                                  if s.get("verification") else "")
               for s in res["steps"]]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def write(result: BatchResult, path: str | Path, page: str | Path | None = None) -> None:
    """`page`: the --report page, named relative to the JUnit file's folder when it is under it."""
    import os

    from modelport.core.io import PendingOutput

    link = None
    if page:
        link = os.path.relpath(Path(page).absolute(), Path(path).absolute().parent)
        link = str(Path(page).absolute()) if link.startswith("..") else link
    with PendingOutput(path, force=True) as pending:
        Path(pending.path).write_bytes(to_xml(result, link))
        pending.commit()
