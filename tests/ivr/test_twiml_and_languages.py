"""Two small rules the short call stands on: every prompt before a question can be
interrupted, and a known caller is greeted in a language they understand."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ivr import languages
from ivr.twiml import Gather, Hangup, Pause, Redirect, Reply, Say


def _say(text: str) -> Say:
    return Say(text, "en-IN", "Polly.Raveena")


def test_prompts_before_a_gather_go_inside_it_and_others_stay_where_they_are() -> None:
    question = Gather(action="https://x/ivr/voice/answer/a?t=1", prompts=(_say("Which one?"),))
    reply = Reply((_say("Sorry."), Pause(1), question))
    [gather] = reply.interruptible().verbs
    assert isinstance(gather, Gather)
    assert gather.prompts == (_say("Sorry."), Pause(1), _say("Which one?"))

    goodbye = Reply((_say("Goodbye."), Hangup()))
    assert goodbye.interruptible() == goodbye  # nothing to answer: said in full
    redirect = Reply((_say("One moment."), Redirect("https://x/ivr/voice/ask/b?t=2")))
    assert redirect.interruptible() == redirect


def test_the_rendered_twiml_has_no_say_outside_the_question() -> None:
    question = Gather(action="https://x/a", prompts=(_say("Which one?"),), speech=True)
    root = ET.fromstring(Reply((_say("Thank you."), question)).to_xml())
    assert [child.tag for child in root] == ["Gather"]
    gather = root[0]
    assert [say.text for say in gather] == ["Thank you.", "Which one?"]
    assert gather.attrib["bargeIn"] == "true"  # speech stops the prompts too


def test_a_known_caller_is_greeted_in_their_language_or_one_they_understand() -> None:
    jk = languages.offered(["hi", "en", "ur", "ks", "doi"], recorded_prompts=False)
    recorded = languages.offered(["hi", "en", "ur", "ks", "doi"], recorded_prompts=True)
    punjab = languages.offered(["pa", "hi", "en"], recorded_prompts=False)

    def code(spoken: str, offered: list[languages.Language]) -> str | None:
        found = languages.for_caller(spoken, offered)
        return found.code if found else None

    assert code("en", jk) == "en"
    assert code("ks", jk) == "ur"  # no Kashmiri voice: Urdu, which Kashmiri speakers read
    assert code("doi", jk) == "hi"
    assert code("ks", recorded) == "ks"  # with recordings, their own
    assert code("pa", punjab) == "hi"
    assert code("ta", jk) is None  # nothing they are known to understand: the menu asks
