import{a,b}from"./chunk-RYMEKMB2.js";import"./chunk-N4AVXPDA.js";export{b as StatusBadge,a as default};
