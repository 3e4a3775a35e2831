// Read .ics files with Mozilla's ical.js (the parser of Thunderbird and many web calendars) and
// print, as JSON, the instants it gives each event, for a test to compare with Python's zoneinfo.
//
//   node icaljs_instants.mjs <ical.js package folder> <occurrences> <file.ics>...
//
// Prints {"<file>": [{uid, tzid, occurrences: [{local, start, end}]}]}: `local` is the start's
// wall time as ical.js holds it, `start` and `end` the UTC instants (ISO 8601) it computes. Each
// file's VTIMEZONEs are registered with ICAL.TimezoneService first, so a TZID resolves to the
// zone the file itself defines (an unresolved TZID shows as tzid "floating"). A recurring
// event lists its first <occurrences> occurrences, from ical.js's own iterator.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [packageDir, count, ...files] = process.argv.slice(2);
const ICAL = (await import(pathToFileURL(join(packageDir, "dist", "ical.js")).href)).default;
const occurrences = Number(count);

function instants(event, start) {
  const details = event.getOccurrenceDetails(start);
  return {
    local: details.startDate.toString(),
    start: details.startDate.toJSDate().toISOString(),
    end: details.endDate.toJSDate().toISOString(),
  };
}

const result = {};
for (const file of files) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(file, "utf8")));
  ICAL.TimezoneService.reset();
  for (const zone of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(zone);
  }
  result[file] = root.getAllSubcomponents("vevent").map((component) => {
    const event = new ICAL.Event(component);
    const starts = [];
    if (event.isRecurring()) {
      const iterator = event.iterator();
      for (let next = iterator.next(); next && starts.length < occurrences;
        next = iterator.next()) {
        starts.push(next);
      }
    } else {
      starts.push(event.startDate);
    }
    return {
      uid: event.uid,
      tzid: event.startDate.zone.tzid,
      occurrences: starts.map((start) => instants(event, start)),
    };
  });
}
process.stdout.write(JSON.stringify(result));
