// Package zones turns tracked objects into zone and line events: polygons an object enters
// and leaves (after an optional minimum dwell), lines it crosses (with the direction), and
// each zone's occupancy per class. Coordinates are normalised to the picture (0..1, y down).
//
// An object's position is its box's bottom centre, the ground point: where a person or a
// car touches the floor, so a zone drawn on the floor holds the objects standing in it
// whatever their height. A line is crossed when that point's path between two consecutive
// updates of the track crosses the segment. It is an engine: it imports only defs.
package zones
