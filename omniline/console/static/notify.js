// Telling the operator about new offers: the page title and a short beep.

const BASE_TITLE = 'omniline';
let audio = null;

/**
 * Create (or resume) the audio context. Browsers only allow sound after a user gesture, so the
 * console calls this from the login click and from any later click; it never throws.
 */
export function unlockAudio() {
  try {
    if (!audio) {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      audio = new Context();
    }
    if (audio.state === 'suspended') audio.resume().catch(() => {});
  } catch {
    audio = null; // sound is a nicety; the title still tells
  }
}

/** A 0.2 s two-tone beep, or silence when the browser blocks audio. */
export function beep() {
  try {
    unlockAudio();
    if (!audio || audio.state !== 'running') return;
    const now = audio.currentTime;
    const gain = audio.createGain();
    gain.gain.setValueAtTime(0.0001, now);
    gain.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.22);
    gain.connect(audio.destination);
    const tone = audio.createOscillator();
    tone.type = 'sine';
    tone.frequency.setValueAtTime(880, now);
    tone.frequency.setValueAtTime(1320, now + 0.1);
    tone.connect(gain);
    tone.start(now);
    tone.stop(now + 0.24);
  } catch {
    /* blocked or unsupported audio: stay silent */
  }
}

/** "(2) New dialog - omniline" while dialogs wait for me, otherwise "Console - omniline". */
export function setTitle(offers) {
  document.title =
    offers > 0
      ? `(${offers}) New dialog${offers > 1 ? 's' : ''} - ${BASE_TITLE}`
      : `Console - ${BASE_TITLE}`;
}
