"""Field work: what happens after a visit is planned — the agents' itineraries, their reports
from the door (arrived, done with the citizen's visit code, failed, no-show), and the citizens
told at every step."""
