// An alarm's paging in words, for its line on the tile (contract v1.3, the chair state's
// `paging`): who was paged and how long ago, who answered, and who is paged next and when.
//
//   "not paged yet · Kim in 0:25"                 the first step is still to come
//   "paged Kim 0:45 ago, no answer · charge nurse in 0:15"
//   "Kim declined · paged charge nurse Lee 0:10 ago, no answer · fail-safe group in 1:50"
//   "accepted by Kim 0:20 ago"                    ended by an accept
//   "acknowledged at the station by nurse.kim"    ended otherwise: the service's own words
//
// Times are the service's wall clock; `now` is the station's (wallNow). Names are the pagers'
// holders as the service and the coverage give them; a page never involves a patient.

import { clockText, parseTime } from "./time.js";

const NEXT_WORDS = { charge: "charge nurse", failsafe: "fail-safe group" };
const ANSWER_WORDS = { accepted: "accepted", declined: "declined" };

/** {state, said, next}: state is "waiting", "running", "accepted" or "ended"; `said` what has
 * happened, `next` who is paged next and the countdown (empty once the escalation ended). */
export function pagingWords(paging, { chair, coverage, now }) {
  const pages = (Array.isArray(paging.pages) ? paging.pages : [])
    .filter((p) => p && typeof p === "object")
    .sort((a, b) => (parseTime(a.at) ?? 0) - (parseTime(b.at) ?? 0));
  if (paging.ended) return endedWords(paging, pages, now);
  const next = nextWords(paging, pages, { chair, coverage, now });
  if (pages.length === 0) return { state: "waiting", said: "not paged yet", next };
  return { state: "running", said: pagedWords(pages, coverage, now), next };
}

function endedWords(paging, pages, now) {
  const accepted = pages.filter((p) => p.answer === "accepted").at(-1);
  if (!accepted) return { state: "ended", said: String(paging.ended), next: "" };
  const at = parseTime(accepted.answered_at);
  const ago = at === null ? "" : ` ${clockText(now - at)} ago`;
  return { state: "accepted", said: `accepted by ${holder(accepted)}${ago}`, next: "" };
}

/** The latest step's pages (the fail-safe group is several at once) and how the step before
 * it ended: "Kim declined · paged charge nurse Lee 0:10 ago, no answer". */
function pagedWords(pages, coverage, now) {
  const last = pages.at(-1);
  let first = pages.length - 1;
  while (first > 0 && pages[first - 1].step === last.step) first -= 1;
  const current = pages.slice(first);
  const before = pages[first - 1];
  const words = [];
  if (before) words.push(`${holder(before)} ${ANSWER_WORDS[before.answer] || "no answer"}`);
  const at = parseTime(current[0].at);
  const ago = at === null ? "" : ` ${clockText(now - at)} ago`;
  const declined = current.filter((p) => p.answer === "declined").map(holder);
  const answer = declined.length ? `${declined.join(", ")} declined` : "no answer";
  const who = current.length === 1 ? titled(current[0], coverage) : current.map(holder).join(", ");
  words.push(`paged ${who}${ago}, ${answer}`);
  return words.join(" · ");
}

function nextWords(paging, pages, { chair, coverage, now }) {
  const to = nextTo(paging.next_to, chair, coverage);
  if (!to) return "";
  const again = pages.length > 0 && paging.next_step === pages.at(-1).step ? " again" : "";
  const due = parseTime(paging.next_due);
  if (due === null) return `next: ${to}${again}`;
  const left = due - now;
  return left > 0 ? `${to}${again} in ${clockText(Math.ceil(left))}` : `${to}${again} now`;
}

/** Who the next step pages, in words: the chair's own nurse by name when the coverage says. */
function nextTo(step, chair, coverage) {
  if (step === "primary") return primaryName(chair, coverage) || "primary nurse";
  return NEXT_WORDS[step] || "";
}

/** The name of the pager covering `chair` first (its primary, or the default), or null. */
export function primaryName(chair, coverage) {
  if (!coverage) return null;
  const primary = coverage.primary || {};
  const id = Object.hasOwn(primary, chair) ? primary[chair] : coverage.default;
  const pager = (coverage.pagers || []).find((p) => p.id === id);
  return pager ? pager.name || pager.id : null;
}

function holder(page) {
  return page.pager_name || page.pager || "?";
}

/** A page's holder with her role when she is the charge nurse ("charge nurse Lee"). */
function titled(page, coverage) {
  const pager = coverage && (coverage.pagers || []).find((p) => p.id === page.pager);
  return pager && pager.role === "charge" ? `charge nurse ${holder(page)}` : holder(page);
}
