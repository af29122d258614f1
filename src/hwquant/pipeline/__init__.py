"""The build: the stages of one ``hwquant build`` in order (load, data, plan, convert, check, verify,
package, report), the staging folder that makes a build all-or-nothing, and many targets from one load."""
