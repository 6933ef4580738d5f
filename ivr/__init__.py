"""IVR: the Twilio adapter — the voice webhooks of the toll-free number, and SMS sending.

Thin handlers: parse the form, make dispatch calls, answer TwiML. The call, step by step:

    incoming -> language -> main_menu -> service_menu (keys, or the name said) -> documents
             -> address (last one, or district / block / village / landmark) -> windows
             -> fee (agree: request logged with its charge and booked into the live plan)
             -> confirmation (reference digit by digit, window, fee; SMS queued)
    main_menu 2: status by reference; 3: reschedule or cancel; 0 anywhere: a person (queue, or
    a call-back when the expected wait exceeds DOORSTEP_CALLBACK_WAIT_SECONDS).

Modules:
    webhooks      routes under /ivr/voice; X-Twilio-Signature checked for the public URL (403)
    conversation  one webhook = one transaction; stored answers replayed on retries; apologies
    flow          the per-webhook context, the step registry, paged keypad menus
    steps/        one module per group of steps (entry, services, location, booking, lookup,
                  person)
    prompts       prompt keys (the words are seed_data/prompts/<lang>.csv), rendering to <Say>
    speech        values in words: digits, rupees from paise, dates and windows in local time
    languages     languages, their keys, Twilio voices and speech recognition
    twiml         the typed TwiML verbs and their one rendering through twilio's VoiceResponse
    signature     Twilio's request signatures, checked and (for the simulator) made
    deps          dependency providers; sms + twilio_api: the SMS port's Twilio adapter

Voices: Hindi hi-IN (Polly.Aditi), English en-IN (Polly.Raveena), Urdu ur-IN
(Google.ur-IN-Standard-A; values without Urdu words in the Hindi voice); Kashmiri and Dogri
have no text-to-speech and are offered only with recorded prompts
(DOORSTEP_PROMPT_AUDIO_BASE_URL, files <base>/<lang>/<key>.mp3). See `ivr.languages`.
"""
