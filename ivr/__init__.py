"""IVR: the Twilio adapter — the voice webhooks of the toll-free number, and SMS sending.

Thin handlers: parse the form, make dispatch calls, answer TwiML. The call, step by step:

    incoming -> language -> main_menu -> service_menu (keys, or the name said) -> documents
             -> address (last one for a caller proven by caller ID; or a contact number when
                caller ID is withheld, then district / block / village / landmark) -> windows
             -> fee (agree: one call to `dispatch.visits.service.book_visit`)
             -> confirmation (reference digit by digit, window, fee; SMS with the visit code)
    main_menu 2: status by reference; 3: reschedule or cancel — the caller's own caller ID, or
    else the visit code, first; 0 anywhere: a person (queue, or a call-back when the expected
    wait exceeds DOORSTEP_CALLBACK_WAIT_SECONDS and the number may be called back).

Modules:
    webhooks      routes under /ivr/voice; X-Twilio-Signature checked for the public URL (403)
    conversation  one webhook = one transaction; stored answers replayed on retries; webhooks
                  out of place refused; apologies; a busy database answered in seconds
    flow          the per-webhook context, the step registry, paged keypad menus
    steps/        one module per group of steps (entry, services, location, booking, lookup,
                  person)
    prompts       prompt keys (the words are seed_data/prompts/<lang>.csv), rendering to <Say>
    speech        values in words: digits, rupees from paise, dates and windows in local time
    languages     languages, their keys, Twilio voices and speech recognition
    twiml         the typed TwiML verbs and their one rendering through twilio's VoiceResponse
    signature     Twilio's request signatures, checked and (for the stand-in) made
    numbers       durations and counts in Twilio's parameters, read strictly
    standin       Twilio's side of a call, for the simulator, `doorstep call` and the tests
    deps          dependency providers; sms + twilio_api: the SMS port's Twilio adapter

Voices: Hindi hi-IN (Polly.Aditi), English en-IN (Polly.Raveena), Urdu ur-IN
(Google.ur-IN-Standard-A; values without Urdu words in the Hindi voice); Kashmiri and Dogri
have no text-to-speech and are offered only with recorded prompts
(DOORSTEP_PROMPT_AUDIO_BASE_URL, files <base>/<lang>/<key>.mp3). See `ivr.languages`.
"""
